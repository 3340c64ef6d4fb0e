// A single-page app: the Hono server serves build/index.html for every non-/api path and the
// client router takes over. Nothing is rendered on a server or prerendered at build time.
export const ssr = false;
export const prerender = false;
