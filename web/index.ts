// Public surface of the web/ folder for Node code (the Hono server). Plain TypeScript: nothing
// here may import Svelte or SvelteKit, because the server imports this file at runtime.
import { fileURLToPath } from 'node:url';

/** Absolute path of the built console (`vite build` output), served as static files. */
export const WEB_BUILD_DIR: string = fileURLToPath(new URL('./build', import.meta.url));

/** The SPA entry point; the server answers unknown non-/api GET paths with this file. */
export const WEB_INDEX_FILE: string = fileURLToPath(new URL('./build/index.html', import.meta.url));
