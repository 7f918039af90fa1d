/*
 * The columns of the device authorization table (RFC 8628), named once for
 * both dialects: each schema file hands over its dialect's column builders
 * (drizzle's are per dialect and unrelated in type), so the SQLite and the
 * PostgreSQL table cannot drift apart in column names or nullability.
 */

/** One dialect's builders for the kinds of column the table has. */
export interface DeviceCodeColumnBuilders<Key, Text, NullableText, Status, Count, Time, NullableTime, Flag, Json> {
  /** Text, the primary key. */
  key(name: string): Key
  /** Text, not null. */
  text(name: string): Text
  nullableText(name: string): NullableText
  /** Text typed as the record's `status`, not null. */
  status(name: string): Status
  /** Integer, not null. */
  count(name: string): Count
  /** A time to the millisecond, not null. */
  time(name: string): Time
  nullableTime(name: string): NullableTime
  /** Boolean, not null, default false. */
  flag(name: string): Flag
  /** JSON extension data, nullable. */
  json(name: string): Json
}

/**
 * The device authorization columns: the record's fields, plus
 * `last_poll_slow_down`, whether the last poll came too soon, which the poll
 * statement sets and returns with the row so that its `slow_down` answer and
 * its update are one statement (RFC 8628 §3.5).
 */
export function deviceCodeColumns<Key, Text, NullableText, Status, Count, Time, NullableTime, Flag, Json>(
  c: DeviceCodeColumnBuilders<Key, Text, NullableText, Status, Count, Time, NullableTime, Flag, Json>,
) {
  return {
    deviceCodeHash: c.key('device_code_hash'),
    userCodeHash: c.text('user_code_hash'),
    clientId: c.text('client_id'),
    scope: c.text('scope'),
    status: c.status('status'),
    userId: c.nullableText('user_id'),
    familyId: c.text('family_id'),
    interval: c.count('interval_seconds'),
    lastPolledAt: c.nullableTime('last_polled_at'),
    lastPollSlowDown: c.flag('last_poll_slow_down'),
    createdAt: c.time('created_at'),
    expiresAt: c.time('expires_at'),
    extra: c.json('extra'),
  }
}
