const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string)
}

/**
 * The plain page shown when an authorization error cannot be redirected
 * (RFC 6749 §4.1.2.1); every adapter answers it unless the app renders its own.
 */
export function errorPage(error: string, description: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Authorization error</title></head>
<body>
<h1>Authorization error</h1>
<p><strong>${escapeHtml(error)}</strong>: ${escapeHtml(description)}</p>
<p>The application that sent you here made an invalid request. You can close this page.</p>
</body>
</html>
`
}
