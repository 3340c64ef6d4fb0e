import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/**
 * The console is a single-page app: no server rendering, no prerendering. The Hono server serves
 * `web/build` on the API's port and answers every unknown non-/api path with `index.html`, which
 * boots the client router.
 *
 * @type {import('@sveltejs/kit').Config}
 */
const config = {
  preprocess: vitePreprocess(),
  kit: {
    adapter: adapter({
      pages: 'build',
      assets: 'build',
      fallback: 'index.html',
      precompress: false,
      strict: true,
    }),
    typescript: {
      // web/index.ts (the folder's Node-side public surface) lives outside src/ but must still be
      // part of the web TypeScript project so that type-aware linting can parse it.
      config: (tsconfig) => {
        tsconfig.include.push('../index.ts');
      },
    },
  },
};

export default config;
