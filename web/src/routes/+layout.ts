// The UI is a single-page app served as static files by the hub.
export const ssr = false;
export const prerender = false;
