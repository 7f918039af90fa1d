/**
 * The adapter's default for unexpected errors: one `console.error` line with
 * the error's name and the first line of its message — never a stack or the
 * request, which could carry secrets.
 */
export function logUnexpected(where: string): (error: unknown) => void {
  return (error) => {
    const line = error instanceof Error ? `${error.name}: ${error.message.split('\n', 1)[0]}` : String(error)
    console.error(`[grantkit] unexpected error in ${where}: ${line}`)
  }
}
