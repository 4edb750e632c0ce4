// A tiny history-API router. Every unknown path is answered by the server with index.html
// (route `fallback: /index.html`), so deep links like /users/42 work on reload.
const routes = [
  [/^\/$/, () => "<h1>Home</h1><p>Served by Flaks with an SPA fallback.</p>"],
  [/^\/users$/, () => "<h1>Users</h1><ul><li><a href='/users/42' data-link>User 42</a></li></ul>"],
  [/^\/users\/(\d+)$/, (id) => `<h1>User ${id}</h1><p>Reload this page: the server still answers.</p>`],
  [/^\/settings$/, () => "<h1>Settings</h1><p>Nothing to set.</p>"],
];

function render() {
  const view = document.getElementById("view");
  for (const [re, page] of routes) {
    const m = location.pathname.match(re);
    if (m) { view.innerHTML = page(...m.slice(1)); return; }
  }
  view.innerHTML = "<h1>Not found</h1><p>No client route for " + location.pathname.replace(/[<>&]/g, "") + ".</p>";
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-link]");
  if (!a) return;
  e.preventDefault();
  history.pushState(null, "", a.getAttribute("href"));
  render();
});
window.addEventListener("popstate", render);
render();
