// Live progress of imports and backfills: poll each unfinished one (JSON) until it is done.
"use strict";
const poll = (box, url, show) => {
  const tick = async () => {
    const answer = await fetch(url, { credentials: "same-origin" });
    if (!answer.ok) return;
    const body = await answer.json();
    if (!show(body)) setTimeout(tick, 1000);
  };
  tick();
};
const badge = (box, text, tone) => {
  const found = box.querySelector("[data-status]");
  found.textContent = text;
  found.className = `badge ${tone}`;
};
for (const box of document.querySelectorAll("[data-progress]")) {
  const bar = box.querySelector("progress");
  if (bar.hasAttribute("value")) continue;
  poll(box, box.dataset.progress, (job) => {
    badge(box, job.status, job.error ? "bad" : job.done ? "ok" : "info");
    box.querySelector("[data-count]").textContent = `${job.published} objects published`;
    if (job.done) bar.value = 1;
    return job.done;
  });
}
for (const box of document.querySelectorAll("[data-batch]")) {
  const bar = box.querySelector("progress");
  poll(box, box.dataset.batch, (batch) => {
    bar.max = batch.total || 1;
    bar.value = batch.total ? batch.settled : (batch.done ? 1 : 0);
    badge(box, batch.done ? "done" : "running", batch.done ? "ok" : "info");
    box.querySelector("[data-count]").textContent = `${batch.settled} of ${batch.total} settled (${batch.summary})`;
    return batch.done;
  });
}
