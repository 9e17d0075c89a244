/** Structured logs: one JSON object per line, filtered by level; the entry point picks the sink. */

export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export type LogSink = (line: string) => void;

const ignore = (): void => {};

export function createLogger(level: LogLevel, sink: LogSink): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  // A level below the threshold is a function that does nothing, which a JIT can inline
  // away with the fields object built for it (a debug line per connect costs nothing then).
  const emit = (lvl: LogLevel) =>
    LOG_LEVELS.indexOf(lvl) < threshold
      ? ignore
      : (msg: string, fields?: LogFields) =>
          sink(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields }));
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

/** Hides the value of a `token` query parameter, so logs never carry credentials. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/g, "$1[redacted]");
}
