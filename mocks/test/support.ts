/** What the mocks' tests share: a tiny fetch wrapper that talks to the mocked base URL. */
export interface Call {
  status: number;
  headers: Headers;
  body: any;
}

export interface CallOptions {
  method?: string;
  /** Sent as `Authorization: Bearer <key>`; omitted when undefined. */
  key?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Plain fetch, as any consumer would call the API; msw answers it. */
export function caller(baseUrl: string) {
  return async function call(path: string, options: CallOptions = {}): Promise<Call> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.key !== undefined) headers['authorization'] = `Bearer ${options.key}`;
    if (options.body !== undefined) headers['content-type'] ??= 'application/json';
    const res = await fetch(`${baseUrl}${path}`, {
      method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  };
}
