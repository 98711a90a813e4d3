// Upload progress for htmx multipart posts (served from /static: no inline scripts, CSP-safe).
document.addEventListener("htmx:xhr:progress", function (evt) {
  var bar = document.getElementById("upload-progress");
  if (bar && evt.detail.lengthComputable) {
    bar.value = Math.round((evt.detail.loaded / evt.detail.total) * 100);
  }
});

// A file over the upload limit is refused before it is sent (the server refuses it too, while
// it streams in, but a browser may report a reset connection instead of that early reply).
// The texts come translated from the page: data-refused, data-too-large and data-bytes on the
// file input ({size}, {max} and {n} are filled in here).
function pvSize(n, input) {
  var units = [["MB", 1048576], ["KB", 1024]];
  for (var i = 0; i < units.length; i++) {
    if (n >= units[i][1]) {
      var v = n / units[i][1];
      return (v === Math.floor(v) ? v.toFixed(0) : v.toFixed(1)) + " " + units[i][0];
    }
  }
  var bytes = (input && input.getAttribute("data-bytes")) || "{n} bytes";
  return bytes.replace("{n}", String(n));
}
document.addEventListener("htmx:beforeRequest", function (evt) {
  var form = evt.detail.elt;
  if (!form || !form.matches || !form.matches("form[data-upload-form]")) return;
  var input = form.querySelector("input[type=file][data-max-bytes]");
  var file = input && input.files && input.files[0];
  var max = input ? parseInt(input.getAttribute("data-max-bytes"), 10) : NaN;
  if (!file || !(file.size > max)) return;
  evt.preventDefault();
  var result = document.getElementById("upload-result");
  var p = document.createElement("p");
  p.className = "error";
  p.setAttribute("data-testid", "upload-refused");
  var strong = document.createElement("strong");
  strong.textContent = input.getAttribute("data-refused") || "The file was refused:";
  p.appendChild(strong);
  var text = input.getAttribute("data-too-large") ||
    "the file is {size}; at most {max} may be uploaded. Nothing was stored.";
  text = text.replace("{size}", pvSize(file.size, input)).replace("{max}", pvSize(max, input));
  p.appendChild(document.createTextNode(" " + text));
  result.replaceChildren(p);
});

// Dates are ISO 8601 (YYYY-MM-DD) in every language. A native <input type="date"> shows the
// browser's own format (mm/dd/yyyy in en-US), so date fields are text fields marked
// data-iso-date; a button beside each opens the browser's calendar, whose choice is written
// back as YYYY-MM-DD. The button's name comes translated from <body data-calendar>.
function pvIsoDates(root) {
  if (!root || !root.querySelectorAll) return;
  root.querySelectorAll("input[data-iso-date]:not([data-calendar-ready])").forEach(function (input) {
    input.setAttribute("data-calendar-ready", "");
    var picker = document.createElement("input");
    picker.type = "date";
    picker.className = "date-picker";
    picker.tabIndex = -1;
    picker.setAttribute("aria-hidden", "true");
    if (input.getAttribute("data-max")) picker.max = input.getAttribute("data-max");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "date-button secondary";
    button.setAttribute("data-testid", "calendar-" + input.name);
    button.textContent = document.body.getAttribute("data-calendar") || "Calendar";
    button.addEventListener("click", function () {
      if (/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(input.value)) picker.value = input.value;
      try { picker.showPicker(); } catch (e) { picker.focus(); }
    });
    picker.addEventListener("change", function () {
      if (!picker.value) return;
      input.value = picker.value;  // the value of a date input is always YYYY-MM-DD
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
    input.after(button, picker);
  });
}
document.addEventListener("DOMContentLoaded", function () { pvIsoDates(document); });
document.addEventListener("htmx:load", function (evt) { pvIsoDates(evt.target); });
