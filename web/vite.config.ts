import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';

// `vite dev` serves the console on its own port; the API lives in the Hono server, so /api is
// proxied to it. Set PARCELROOM_API_URL to point at a server on another address.
const apiTarget = process.env['PARCELROOM_API_URL'] ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [sveltekit()],
  server: {
    proxy: {
      '/api': { target: apiTarget, changeOrigin: false },
    },
  },
  preview: {
    proxy: {
      '/api': { target: apiTarget, changeOrigin: false },
    },
  },
});
