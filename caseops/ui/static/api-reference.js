// Starts the vendored Swagger UI on the API's own OpenAPI document (no inline script: the
// page runs under the same Content-Security-Policy as every other page).
window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    // No calls to the public validator service: the document stays on this server.
    validatorUrl: null,
    // Token-authenticated "Try it out"; the browser's session cookie is never needed.
    persistAuthorization: false,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
