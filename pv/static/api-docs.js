// Starts Swagger UI on /api/docs (served from /static: no inline script, CSP-safe). The page
// names the OpenAPI document in data-openapi-url; swagger-ui-bundle.js (npm swagger-ui-dist)
// is loaded before this file. No validator badge: it would call a server outside the app.
document.addEventListener("DOMContentLoaded", function () {
  var node = document.getElementById("swagger-ui");
  if (!node || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.ui = window.SwaggerUIBundle({
    url: node.getAttribute("data-openapi-url"),
    domNode: node,
    deepLinking: true,
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
