import express, { type RequestHandler } from 'express';
import { HttpProblem } from '../problem.js';

/** JSON bodies only, up to `limitBytes`; anything else is refused before a route sees it. */
export function jsonBody(limitBytes: number): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    const hasBody = req.headers['content-length'] !== '0' && (req.headers['content-length'] || req.headers['transfer-encoding']);
    if (hasBody && !req.is('application/json')) {
      throw new HttpProblem(415, 'unsupported_media_type', 'the request body must be application/json');
    }
    next();
  };
  return [requireJson, express.json({ limit: limitBytes, strict: true })];
}
