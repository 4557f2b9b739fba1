// Types of the @uwdata/flechette 2.6.0 internals add-actions-encode.ts and coalesce.ts use (the package ships none for src/).
declare module '@uwdata/flechette/src/compression.js' {
  export function compressBuffer(bytes: Uint8Array, codec: { encode(bytes: Uint8Array): Uint8Array }): Uint8Array;
  export function decompressBuffer(body: Uint8Array, region: { offset: number; length: number }, codec: { decode(bytes: Uint8Array, length: number): Uint8Array }): { bytes: Uint8Array };
}
declare module '@uwdata/flechette/src/decode/message.js' {
  export function decodeMessage(buf: Uint8Array, index: number): {
    content: { length: number; nodes: Array<{ length: number; nullCount: number }>; regions: Array<{ offset: number; length: number }>; compression?: { codec: number }; body: Uint8Array } | object;
  } | null;
}
declare module '@uwdata/flechette/src/encode/encode-ipc.js' {
  export function encodeIPC(data: unknown, options?: { format?: 'stream' | 'file'; codec?: number }): { finish(): Uint8Array };
}
