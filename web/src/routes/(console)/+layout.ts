import { error, redirect } from '@sveltejs/kit';
import { ApiError, getHealth, getMe } from '$lib/api';
import { loginHref } from '$lib/navigation';
import type { LayoutLoad } from './$types';

// Every console page needs a session. The site name for the header comes from /api/health, which
// is public; a failing health check must not keep anyone out of the console.
export const load: LayoutLoad = async ({ fetch, url }) => {
  const health = getHealth(fetch).catch(() => null);
  try {
    const user = await getMe(fetch);
    return { user, health: await health };
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      redirect(307, loginHref(url.pathname + url.search));
    }
    if (e instanceof ApiError) error(e.status >= 400 ? e.status : 503, e.message);
    throw e;
  }
};
