import adapter from '@sveltejs/adapter-static';

/** The UI is built to static files that the hub serves at `/`. */
export default {
  kit: {
    adapter: adapter({ pages: 'build', assets: 'build', fallback: 'index.html' }),
    // The build carries the hashes of SvelteKit's inline bootstrap script in a CSP meta tag;
    // the hub serves the same policy as a header, with what a meta tag cannot say.
    csp: { mode: 'hash', directives: { 'script-src': ['self'] } },
  },
};
