// Tells workers-types what the main module exports, so `exports.default` (and later the
// Durable Object namespaces) are typed in tests and in `ctx.exports`.
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("./index.js");
    durableNamespaces: "TenantLedger" | "BatchRun" | "BatchShard";
  }
  interface Env extends import("./env.js").Env {}
}

// wrangler imports .wasm files as precompiled modules and .onnx files (a Data rule in
// wrangler.toml) as ArrayBuffers.
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}
declare module "*.onnx" {
  const bytes: ArrayBuffer;
  export default bytes;
}
