import adapter from '@sveltejs/adapter-static';

/** The UI is built to static files that the hub serves at `/`. */
export default {
  kit: {
    adapter: adapter({ pages: 'build', assets: 'build', fallback: 'index.html' }),
  },
};
