// The API documentation page (/api/docs): Swagger UI on this service's own OpenAPI
// document. A file of its own, so that the page's Content-Security-Policy runs no inline
// script (script-src 'self').
"use strict";

window.ui = window.SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#swagger-ui",
  // Only what this page needs: no top bar to load another document from elsewhere.
  layout: "BaseLayout",
  deepLinking: true,
  docExpansion: "list",
  filter: true,
  displayRequestDuration: true,
  requestSnippetsEnabled: true,
  // A token given under Authorize stays in this page, never in the browser's storage.
  persistAuthorization: false,
  // No badge from the online validator: this page fetches from this service alone.
  validatorUrl: null,
  // The session cookie goes along as on every request to the page's own origin.
  withCredentials: false,
});
