// Fills "Where this page runs" from /info, which nginx renders from the pod's environment at start.
"use strict";

(() => {
  const FIELDS = ["target", "namespace", "pod", "node", "image", "release", "version"];
  const status = document.getElementById("status");
  const refresh = document.getElementById("refresh");

  function show(info) {
    for (const field of FIELDS) {
      const cell = document.querySelector(`[data-info="${field}"]`);
      const value = typeof info[field] === "string" ? info[field].trim() : "";
      cell.textContent = value || "not set";
      cell.classList.toggle("unset", value === "");
    }
  }

  async function load() {
    refresh.disabled = true;
    status.textContent = "Asking the server…";
    try {
      const response = await fetch("/info", { cache: "no-store", headers: { Accept: "application/json" } });
      if (!response.ok) {
        throw new Error(`HTTP ${response.status}`);
      }
      show(await response.json());
      status.textContent = `Answered by the server at ${new Date().toLocaleTimeString()}.`;
    } catch (error) {
      status.textContent = `Could not read /info (${error.message}).`;
    } finally {
      refresh.disabled = false;
    }
  }

  refresh.hidden = false;
  refresh.addEventListener("click", load);
  load();
})();
