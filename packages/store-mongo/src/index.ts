export { mongoStore } from './mongo-store.js'
export type { EnsureIndexesResult, MongoCollectionName, MongoStore, MongoStoreOptions } from './mongo-store.js'
export { connectMongo, databaseNameFromUri } from './connect-mongo.js'
export type { ConnectMongoOptions, MongoConnection } from './connect-mongo.js'
