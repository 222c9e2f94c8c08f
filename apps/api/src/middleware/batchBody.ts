/**
 * A batch's body: JSON (`{requests: […]}`) or JSON lines (`application/x-ndjson`, one
 * request per line), up to BATCH_MAX_BYTES. JSON lines are read as a stream, line by
 * line, each parsed as it arrives: the body is never held whole as text. Either way the
 * route sees `{requests, metadata?}`, and `req.batchLines` says the requests came as lines.
 */
import { StringDecoder } from 'node:string_decoder';
import express, { type RequestHandler } from 'express';
import { HttpProblem } from '../problem.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** The batch came as JSON lines: each request's line number (requests are named by line, not index). */
    batchLines?: number[];
  }
}

export function batchBody(limitBytes: number): RequestHandler[] {
  const json = express.json({ limit: limitBytes, strict: true });
  const parse: RequestHandler = (req, res, next) => {
    const hasBody = req.headers['content-length'] !== '0' && (req.headers['content-length'] || req.headers['transfer-encoding']);
    if (!hasBody) return next();
    if (req.is('application/json')) return json(req, res, next);
    if (!req.is('application/x-ndjson')) {
      return next(new HttpProblem(415, 'unsupported_media_type', 'a batch is application/json ({"requests": […]}) or application/x-ndjson (one request per line)'));
    }
    void readLines(req, limitBytes).then(({ requests, lines }) => {
      req.body = { requests };
      req.batchLines = lines;
      next();
    }, next);
  };
  return [parse];
}

async function readLines(req: NodeJS.ReadableStream, limitBytes: number): Promise<{ requests: unknown[]; lines: number[] }> {
  const requests: unknown[] = [];
  const lines: number[] = [];
  let lineNo = 0;
  let bytes = 0;
  let pending = '';
  // A character split between two chunks is joined before it is decoded.
  const decoder = new StringDecoder('utf8');
  const take = (line: string) => {
    lineNo++;
    if (line.trim() === '') return;
    try {
      requests.push(JSON.parse(line));
      lines.push(lineNo);
    } catch {
      throw new HttpProblem(400, 'invalid_json', `line ${lineNo} is not valid JSON`, { errors: [{ field: `line ${lineNo}`, message: 'is not valid JSON' }] });
    }
  };
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > limitBytes) throw new HttpProblem(413, 'body_too_large', `the batch is larger than ${limitBytes} bytes (BATCH_MAX_BYTES)`);
    pending += decoder.write(chunk);
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      take(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  }
  pending += decoder.end();
  take(pending);
  return { requests, lines };
}
