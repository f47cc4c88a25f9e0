// What an HTTP request must show before the API reads it. A web page the user opens can
// send requests to loopback; these checks keep it out:
//  - Host must name this server's loopback address and port: a page served from a name
//    that an attacker re-points at 127.0.0.1 (DNS rebinding) still sends its own name.
//  - A request with an Origin (every cross-site fetch from a browser has one) is refused
//    unless the origin was allowed with --allow-origin.
//  - The bearer token, when the server has one (it has, unless started with --no-auth).
//  - POST bodies must be `Content-Type: application/json` (a page can send text/plain
//    without asking first) and at most MAX_BODY bytes.
import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';

export const MAX_BODY = 4 * 1024 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
  ) {
    super(message);
  }
}

export interface GuardOptions {
  /** The address the server is bound to ("127.0.0.1", "::1" or "localhost"). */
  host: string;
  /** The port it listens on (known once bound). */
  port: () => number;
  /** Undefined only with --no-auth. */
  token?: string;
  /** Origins (scheme://host[:port]) whose browser requests are served. */
  allowOrigins: readonly string[];
  /** More Host values to accept (host:port), e.g. the local end of an SSH tunnel. */
  allowHosts: readonly string[];
}

/** The Host values that name this server: its own address, or localhost, with its port. */
function acceptedHosts(options: GuardOptions): Set<string> {
  const port = options.port();
  const address = options.host.includes(':') ? `[${options.host}]` : options.host;
  return new Set([`${address}:${port}`, `localhost:${port}`, ...options.allowHosts.map((host) => host.toLowerCase())]);
}

export function checkHost(req: http.IncomingMessage, options: GuardOptions): void {
  const host = (req.headers.host ?? '').toLowerCase();
  if (!acceptedHosts(options).has(host)) {
    throw new HttpError(403, `Host "${req.headers.host ?? ''}" is not this server's address: use http://${[...acceptedHosts(options)][0]}, or allow it with --allow-host`, 'permission_error');
  }
}

/** The request's Origin when it is allowed; undefined when there is none. */
export function checkOrigin(req: http.IncomingMessage, options: GuardOptions): string | undefined {
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  if (!options.allowOrigins.includes(origin)) {
    throw new HttpError(403, `requests from origin ${origin} are refused; start the server with --allow-origin ${origin} to allow them`, 'permission_error');
  }
  return origin;
}

export function checkToken(req: http.IncomingMessage, token: string | undefined): void {
  if (token === undefined) return;
  const given = Buffer.from(String(req.headers.authorization ?? ''));
  const expected = Buffer.from(`Bearer ${token}`);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new HttpError(401, 'missing or wrong bearer token', 'authentication_error');
  }
}

/** Reads a POST body: JSON by its Content-Type, at most MAX_BODY bytes, an object. */
export function readJsonBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    return Promise.reject(new HttpError(415, `Content-Type must be application/json (got ${type || 'none'})`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        // Keep nothing more, but read to the end: a client still sending when the
        // answer comes and the connection closes would never see the 413.
        over = true;
        chunks.length = 0;
      } else if (!over) chunks.push(chunk);
    });
    req.on('end', () => {
      if (over) return reject(new HttpError(413, `request body over ${MAX_BODY} bytes`));
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('not an object');
        resolve(body as Record<string, unknown>);
      } catch {
        reject(new HttpError(400, 'the request body must be a JSON object'));
      }
    });
    req.on('error', reject);
  });
}
