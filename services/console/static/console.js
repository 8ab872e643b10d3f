// Live progress of imports: poll each unfinished one until it is done.
"use strict";
for (const box of document.querySelectorAll("[data-progress]")) {
  const bar = box.querySelector("progress");
  if (bar.hasAttribute("value")) continue;
  const tick = async () => {
    const answer = await fetch(box.dataset.progress, { credentials: "same-origin" });
    if (!answer.ok) return;
    const job = await answer.json();
    const badge = box.querySelector("[data-status]");
    badge.textContent = job.status;
    badge.className = `badge ${job.error ? "bad" : job.done ? "ok" : "info"}`;
    box.querySelector("[data-count]").textContent = `${job.published} objects published`;
    if (job.done) { bar.value = 1; return; }
    setTimeout(tick, 1000);
  };
  tick();
}
