import protobuf from 'protobufjs/minimal.js';
// The protobuf root generated from the official opentelemetry-proto definitions, as the
// OpenTelemetry JS project published it (the package alias pins the last release that ships it;
// the SDK's own otlp-transformer stays on its current version).
import root from 'otlp-transformer-protos/build/src/generated/root.js';

/** The slice of a generated message class we use; the package types the root only as `Root`. */
export interface MessageType {
  decode(reader: Uint8Array): object;
  encode(message: object): { finish(): Uint8Array };
  fromObject(object: Record<string, unknown>): object;
  toObject(message: object, options: Record<string, unknown>): Record<string, unknown>;
}

export interface TraceV1 {
  ExportTraceServiceRequest: MessageType;
  ExportTraceServiceResponse: MessageType;
}

export const traceV1 = (root as unknown as { opentelemetry: { proto: { collector: { trace: { v1: TraceV1 } } } } }).opentelemetry.proto.collector
  .trace.v1;

/**
 * Decodes an ExportTraceServiceRequest into the object tree `convertTraces` reads: ids stay
 * bytes, 64-bit integers become decimal strings (exact, unlike a JavaScript number).
 */
export function decodeTraceRequest(bytes: Uint8Array): { ok: true; value: Record<string, unknown> } | { ok: false; reason: string } {
  try {
    const message = traceV1.ExportTraceServiceRequest.decode(bytes);
    return { ok: true, value: traceV1.ExportTraceServiceRequest.toObject(message, { longs: String, enums: Number }) };
  } catch (e) {
    return { ok: false, reason: `body: is not a valid protobuf ExportTraceServiceRequest (${(e as Error).message})` };
  }
}

export function encodeTraceResponse(partialSuccess?: { rejectedSpans: number; errorMessage: string }): Uint8Array {
  return traceV1.ExportTraceServiceResponse.encode(
    traceV1.ExportTraceServiceResponse.fromObject(partialSuccess ? { partialSuccess } : {}),
  ).finish();
}

/**
 * google.rpc.Status, the body of an OTLP/HTTP error response (code = 1, message = 2). Not in the
 * OTLP root, and two fields do not justify another package.
 */
export function encodeRpcStatus(code: number, message: string): Uint8Array {
  return protobuf.Writer.create().uint32(8).int32(code).uint32(18).string(message).finish();
}
