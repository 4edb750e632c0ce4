// Marks the page so you can see the script was served with the right type.
document.addEventListener("DOMContentLoaded", () => {
  const el = document.getElementById("js-status");
  if (el) {
    el.textContent = "JavaScript ran at " + new Date().toLocaleTimeString() + ".";
    el.classList.add("ok");
  }
});
