/**
 * Typed errors. Every error a user can cause names what is at fault (file, field, tensor, op, shape).
 * The CLI prints `error: <message>` for these and exits 1. Anything else (an InternalError, or any other exception)
 * is a bug in selfplay: the CLI says so, asks for a report, prints the stack and exits 70.
 */
export class SelfplayError extends Error {
  override name = 'SelfplayError';
}

/** A graph was built with inconsistent shapes or dtypes; names the op and the shapes. */
export class ShapeError extends SelfplayError {
  override name = 'ShapeError';
}

/** A model folder, config field or weight file is wrong; names the file/field/tensor. */
export class ModelFormatError extends SelfplayError {
  override name = 'ModelFormatError';
}

/** Bad CLI input or input file; names the file and field. */
export class InputError extends SelfplayError {
  override name = 'InputError';
}

/** ONNX Runtime refused a graph or a run; wraps its message with the graph's name. */
export class RuntimeFailure extends SelfplayError {
  override name = 'RuntimeFailure';
}

/** A judge could not deliver (endpoint down after retries, refused request); names the judge and the cause. */
export class JudgeError extends SelfplayError {
  override name = 'JudgeError';
}

/** A file or folder could not be read or written (permissions, full or read-only disk...); names the path and what to do. */
export class FileSystemError extends SelfplayError {
  override name = 'FileSystemError';
}

/**
 * A remote training service (a Tinker-compatible API) failed or refused a request: unreachable, 401, 429/5xx after
 * the retries, a future that never completed, a malformed response. Names the endpoint and the status or field.
 */
export class RemoteError extends SelfplayError {
  override name = 'RemoteError';
}

/** A run ended without doing what it was for (no update applied, too many skipped); the message is its summary. */
export class RunFailedError extends SelfplayError {
  override name = 'RunFailedError';
}

/**
 * A broken internal invariant: a bug in selfplay, never the user's input. Deliberately not a SelfplayError, so the
 * CLI reports it as an internal error with its stack instead of blaming the user's input.
 */
export class InternalError extends Error {
  override name = 'InternalError';
}

/** Throws an {@link InternalError} with `message` unless `condition` holds. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InternalError(message);
}
