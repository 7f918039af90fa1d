export { TokenExchangeGrant } from './token-exchange-grant.js'
export type { ExchangeTokenInfo, TokenExchangeContext } from './token-exchange-grant.js'
export { TOKEN_EXCHANGE_GRANT_TYPE, TOKEN_TYPES } from './token-types.js'
export { TARGET_LIMITS } from './internal/params.js'
