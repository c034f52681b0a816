// The one structured logger. Secrets and prompt text must never reach it: the redaction list is a
// safety net for fields that commonly carry them, not a licence to log request bodies.
import { pino, type Logger } from 'pino';

export const REDACTED_PATHS = [
  'authorization',
  'apiKey',
  'api_key',
  'key',
  'token',
  'adminToken',
  'password',
  'secret',
  'messages',
  'prompt',
  'content',
  '*.authorization',
  '*.apiKey',
  '*.api_key',
  '*.key',
  '*.token',
  '*.adminToken',
  '*.password',
  '*.secret',
  '*.messages',
  '*.prompt',
  '*.content',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
];

export function createLogger(level: string = process.env.LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'silent' : 'info')): Logger {
  return pino({
    level,
    base: { service: 'ainfera' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** Process-wide logger; the server sets its level from config at start. */
export const logger: Logger = createLogger();
