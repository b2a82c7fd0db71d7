/* The department picker on the case page: typing in its search box hides the departments whose
   name does not match; ticking a department makes it the lead when none is marked yet; marking a
   lead ticks it. Without JavaScript the list of checkboxes works as it is. */
(function () {
  "use strict";
  var search = document.getElementById("department-search");
  var list = document.getElementById("department-list");
  if (!search || !list) return;
  var rows = Array.prototype.slice.call(list.querySelectorAll("li"));
  search.addEventListener("input", function () {
    var q = search.value.trim().toLowerCase();
    rows.forEach(function (li) {
      li.hidden = q !== "" && li.getAttribute("data-name").toLowerCase().indexOf(q) < 0;
    });
  });
  search.addEventListener("keydown", function (ev) {  // Enter ticks the only match, not the form
    if (ev.key !== "Enter") return;
    ev.preventDefault();
    var shown = rows.filter(function (li) { return !li.hidden; });
    if (shown.length === 1) shown[0].querySelector("input[type=checkbox]").click();
  });
  list.addEventListener("change", function (ev) {
    var el = ev.target, li = el.closest("li");
    var box = li.querySelector("input[type=checkbox]"), radio = li.querySelector("input[type=radio]");
    if (el === radio && radio.checked) box.checked = true;
    if (el === box && box.checked && !list.querySelector("input[type=radio]:checked")) radio.checked = true;
    if (el === box && !box.checked && radio.checked) {
      radio.checked = false;
      var other = list.querySelector("input[type=checkbox]:checked");
      if (other) other.closest("li").querySelector("input[type=radio]").checked = true;
    }
  });
})();
