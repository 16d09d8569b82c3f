// The link to this page in the other edition of the book (English <-> 中文), in the menu bar.
// Both editions are built side by side (course/book/en, course/book/zh-CN) from the same pages,
// so the counterpart of en/NAME.html is zh-CN/NAME.html; scripts/book.sh checks that every page
// exists in both.
(function () {
  "use strict";
  const chinese = document.documentElement.lang === "zh-CN";
  const page = window.location.pathname.split("/").pop() || "index.html";
  const link = document.createElement("a");
  link.href = (chinese ? "../en/" : "../zh-CN/") + page + window.location.hash;
  link.textContent = chinese ? "English" : "中文";
  link.lang = chinese ? "en" : "zh-CN";
  link.hreflang = link.lang;
  link.className = "language-switch";
  link.title = chinese ? "Read this page in English" : "阅读本页的中文版";
  const buttons = document.querySelector(".right-buttons");
  if (buttons) {
    buttons.prepend(link);
  }
})();
