import { createApp } from "./app.js";

/** Worker entry point. */
export default createApp();
