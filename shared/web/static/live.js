// live inbox count: server-sent events, no build chain
const source = new EventSource("/events");
source.addEventListener("inbox", (e) => {
  const n = JSON.parse(e.data).count;
  document.getElementById("inbox-count").textContent = n ? n : "";
  const list = document.getElementById("inbox-live");
  if (list && n > Number(list.dataset.count)) { location.reload(); }
});
