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
