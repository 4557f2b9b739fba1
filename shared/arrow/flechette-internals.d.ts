// Types of the two @uwdata/flechette 2.6.0 internals add-actions-encode.ts uses (the package ships none for src/).
declare module '@uwdata/flechette/src/compression.js' {
  export function compressBuffer(bytes: Uint8Array, codec: { encode(bytes: Uint8Array): Uint8Array }): Uint8Array;
}
declare module '@uwdata/flechette/src/encode/encode-ipc.js' {
  export function encodeIPC(data: unknown, options?: { format?: 'stream' | 'file'; codec?: number }): { finish(): Uint8Array };
}
