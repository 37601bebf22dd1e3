// Tells workers-types what the main module exports, so `exports.default` (and later the
// Durable Object namespaces) are typed in tests and in `ctx.exports`.
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("./index.js");
    // Every class the entry point exports is a Durable Object: derived, not listed by hand.
    durableNamespaces: Exclude<keyof typeof import("./index.js"), "default">;
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
// Browser code the Worker serves (src/dashboard/*.client.js), as text.
declare module "*.client.js" {
  const text: string;
  export default text;
}
// The console's browser code and uPlot's bundle are served as text (Text rules in wrangler.toml).
declare module "uplot/dist/uPlot.iife.min.js" {
  const text: string;
  export default text;
}
declare module "uplot/dist/uPlot.min.css" {
  const text: string;
  export default text;
}
