/** What a GET of the authorization endpoint showed. */
export interface LoginForm {
  readonly status: number
  readonly headers: Headers
  readonly html: string
  /** The form's absolute action URL. */
  readonly action: URL
  /** The hidden fields. */
  readonly hidden: Record<string, string>
  /** `name=value` pairs for a Cookie header. */
  readonly cookie: string
}

function decodeEntities(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e] as string)
}

function attribute(tag: string, name: string): string | undefined {
  const match = new RegExp(`\\s${name}="([^"]*)"`).exec(tag)
  return match === null ? undefined : decodeEntities(match[1] as string)
}

/** Parses the one `<form method="post">` of the login and consent page. */
export function parseLoginPage(html: string, base: URL): { action: URL; hidden: Record<string, string>; forms: number; inputs: string[] } {
  const forms = html.match(/<form\b[^>]*>/g) ?? []
  const formTag = forms[0] ?? ''
  const action = new URL(attribute(formTag, 'action') ?? base.toString(), base)
  const hidden: Record<string, string> = {}
  const inputs: string[] = []
  for (const tag of html.match(/<(input|button)\b[^>]*>/g) ?? []) {
    const name = attribute(tag, 'name')
    if (name === undefined) continue
    inputs.push(name)
    if (/type="hidden"/.test(tag)) hidden[name] = attribute(tag, 'value') ?? ''
  }
  return { action, hidden, forms: forms.length, inputs }
}

/** GETs the authorization URL and reads its form and cookies. */
export async function openLoginForm(authorizationUrl: URL): Promise<LoginForm> {
  const res = await fetch(authorizationUrl, { redirect: 'manual' })
  const html = await res.text()
  const { action, hidden } = parseLoginPage(html, authorizationUrl)
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';', 1)[0])
    .join('; ')
  return { status: res.status, headers: res.headers, html, action, hidden, cookie }
}

/** POSTs the form with hidden fields, the given fields and the cookies of the GET. */
export function submitLoginForm(form: LoginForm, fields: Record<string, string>, options: { cookie?: string; hidden?: Record<string, string> } = {}): Promise<Response> {
  const body = new URLSearchParams({ ...(options.hidden ?? form.hidden), ...fields })
  return fetch(form.action, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: options.cookie ?? form.cookie },
    body,
  })
}

/** Logs in and decides in one go; answers the redirect response. */
export async function authorize(authorizationUrl: URL, fields: Record<string, string>): Promise<Response> {
  const form = await openLoginForm(authorizationUrl)
  if (form.status !== 200) throw new Error(`the authorization endpoint answered ${form.status}: ${form.html}`)
  return submitLoginForm(form, fields)
}
