// The console's live parts: the werkvoorraad follows changes as they happen, "Mijn werk"
// shows a new offer at once (with a browser notification when allowed), and deadlines
// count down. Every page works without this script; it only saves a reload.
"use strict";

(function () {
  const status = document.getElementById("live-status");

  // A form refused is answered with its page, at the address it was sent to: the
  // history gets the page's own address instead, so that a reload reads the page (not
  // the form sent again) and the back button does not meet a page that cannot be shown
  // again without sending the form once more.
  const own = document.body.dataset.page;
  if (own) history.replaceState(null, "", own);

  // A refused form's page is made again from what is stored; what was typed in the form
  // comes with it (never a password) and is put back, and the form says what was refused,
  // so that nobody types a reason or a visit's note twice. The form is the one sent to
  // this address whose hidden fields (the case it names) are those sent.
  const sentForm = document.getElementById("sent-form");
  if (sentForm) restore(JSON.parse(sentForm.textContent), sentForm.dataset.action);

  function restore(sent, action) {
    const forms = Array.from(document.querySelectorAll("form[action]")).filter(function (form) {
      return form.getAttribute("action") === action &&
        Array.from(form.querySelectorAll("input[type=hidden]")).every(function (field) {
          return field.name === "csrf" || !(field.name in sent) || sent[field.name] === field.value;
        });
    });
    if (forms.length !== 1) return;
    const form = forms[0];
    form.querySelectorAll("input, select, textarea").forEach(function (field) {
      if (!field.name || !(field.name in sent) || ["hidden", "password", "submit"].includes(field.type)) return;
      const value = sent[field.name];
      if (field.type === "checkbox" || field.type === "radio") {
        field.checked = Array.isArray(value) ? value.includes(field.value) : value === field.value;
      } else if (field.tagName === "SELECT") {
        // A choice no longer offered (someone left the roster) keeps the page's own: a
        // list with nothing chosen would send nothing.
        if (Array.from(field.options).some(function (o) { return o.value === value; })) field.value = value;
      } else if (!Array.isArray(value)) {
        field.value = value;
      }
    });
    const alert = document.querySelector("main .alert[role=alert]");
    if (!alert) return;
    // The refusal again where the form is, and a way there from the alert read first
    // (beside it, not in it: an alert changed is read out again).
    const here = document.createElement("p");
    here.className = "alert refused-here";
    here.id = "geweigerd-hier";
    here.tabIndex = -1;
    here.textContent = alert.textContent;
    form.insertAdjacentElement("beforebegin", here);
    const name = form.getAttribute("aria-label") ||
      (form.querySelector("button[type=submit]") || {}).textContent || "het formulier";
    const way = document.createElement("p");
    const link = document.createElement("a");
    link.href = "#geweigerd-hier";
    link.textContent = "Naar het formulier (" + name.trim() + "), ingevuld zoals verstuurd";
    way.append(link);
    alert.insertAdjacentElement("afterend", way);
  }

  function say(text) {
    if (status) status.textContent = text;
  }

  // Time left until each deadline, in words a desk reads at a glance.
  function countdown() {
    const now = Date.now();
    document.querySelectorAll("time.countdown").forEach(function (el) {
      const left = Math.round((Date.parse(el.getAttribute("datetime")) - now) / 60000);
      const span = Math.abs(left);
      const text = span >= 120 ? Math.floor(span / 60) + " u " + (span % 60) + " min" : span + " min";
      el.textContent = left < 0 ? "te laat: " + text : text;
      el.classList.toggle("late", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 30);
    });
  }

  // A read that failed (a busy or stopping instance, the network just back) is tried
  // again, less often each time: until it succeeds the page may show what is no longer so.
  function retrying(run) {
    let wait = 2000;
    return {
      failed: function () { setTimeout(run, wait); wait = Math.min(wait * 2, 60000); },
      worked: function () { wait = 2000; },
    };
  }

  // Events sent while the stream was not connected (the page still loading, a network
  // lost and found again) are not sent again: on every (re)connect, onOpen reads again
  // what the page shows.
  function events(onEvent, onOpen) {
    const source = new EventSource("/api/v1/me/events");
    source.onopen = function () { say("Live bijgewerkt."); onOpen(); };
    source.onerror = function () { say("Verbinding met live-updates wordt hersteld…"); };
    ["werkvoorraad", "offer", "offer_withdrawn", "offer_changed", "reassigned",
     "escalation", "handover", "handover_proposed", "handed_over", "handover_withdrawn"].forEach(function (name) {
      source.addEventListener(name, function (e) { onEvent(name, JSON.parse(e.data)); });
    });
    return source;
  }

  // The werkvoorraad: on a change, read the rows again (at most a few times a second).
  const table = document.querySelector("[data-live-rows]");
  if (table) {
    let pending = null;
    let busy = false;
    const again = retrying(function () { soon(); });
    const refresh = function () {
      pending = null;
      if (busy) { pending = setTimeout(refresh, 100); return; }
      busy = true;
      fetch(table.getAttribute("data-live-rows"), { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
        .then(function (html) {
          const doc = new DOMParser().parseFromString("<table>" + html + "</table>", "text/html");
          const rows = doc.getElementById("work-rows");
          const old = document.getElementById("work-rows");
          if (rows && old) { old.replaceWith(document.adoptNode(rows)); countdown(); }
          say("Live bijgewerkt om " + new Date().toLocaleTimeString("nl-NL") + ".");
          again.worked();
        })
        .catch(function () { say("Bijwerken mislukt; het wordt opnieuw geprobeerd."); again.failed(); })
        .finally(function () { busy = false; });
    };
    const soon = function () { if (pending === null) pending = setTimeout(refresh, 150); };
    events(function (name) { if (name === "werkvoorraad") soon(); }, soon);
  }

  // My work: a change to my own offers, cases or handovers reloads the page, but never
  // under someone filling in a field (a decline's reason, a first contact's note, a
  // choice in a list): then once they leave it. The werkvoorraad's events (a coordinator
  // also receives the gebied's) are not about this page.
  const MINE = ["offer", "offer_withdrawn", "offer_changed", "reassigned", "escalation",
                "handover", "handover_proposed", "handed_over", "handover_withdrawn"];
  // What went from the page and why, said on the page read anew (what is gone leaves no
  // trace on it otherwise).
  const GONE = {
    expired: "Een aanbod is verlopen en naar de volgende gegaan.",
    roster: "Je aanbod is ingetrokken: je rooster is gewijzigd (afwezig gemeld of een dienst minder).",
    moved: "Een aanbod is ingetrokken: de melding is naar een ander gebied gegaan.",
    closed: "Een aanbod is ingetrokken: de melding is afgesloten.",
  };
  function gone(name, data) {
    if (name === "offer_withdrawn") return GONE[data.why] || "Een aanbod is ingetrokken.";
    if (name === "reassigned") return "Een melding van je is aan een collega gegeven.";
    if (name === "handover_withdrawn") return "Een voorgestelde overdracht gaat niet door; de casusregie blijft waar die was.";
    if (name === "handed_over") return "Een collega heeft de casusregie van een van je casussen overgenomen.";
    if (name === "handover_proposed" && data.as === "lead") {
      return "De coördinator heeft voorgesteld een van je casussen aan een collega over te dragen; tot die overneemt, blijft hij bij jou.";
    }
    return null;
  }
  // Someone is filling in a field, or has a refused form back to send again: a reload
  // would take what they typed.
  function filling() {
    const el = document.activeElement;
    return !!document.querySelector(".refused-here") ||
      (!!el && ["INPUT", "TEXTAREA", "SELECT"].indexOf(el.tagName) >= 0);
  }
  const mine = document.querySelector("[data-live-reload]");
  if (mine) {
    let stale = false;
    let timer = null;
    // Read anew, not reloaded: a page that answered a refused form would post it again.
    const home = function () { window.location.assign(mine.getAttribute("data-page")); };
    const reload = function () {
      timer = null;
      if (filling()) {
        stale = true;
        say(document.querySelector(".refused-here")
          ? "Er is iets veranderd: verstuur je formulier, of herlaad de pagina om het te zien."
          : "Er is iets veranderd: de pagina wordt bijgewerkt zodra je dit veld verlaat.");
      } else {
        home();
      }
    };
    document.addEventListener("focusout", function () {
      // After the focus has moved: into another field is still filling in.
      setTimeout(function () { if (stale && !filling()) home(); }, 0);
    });
    const button = document.querySelector("button.notify");
    if (button && "Notification" in window && Notification.permission === "default") {
      button.hidden = false;
      button.addEventListener("click", function () {
        Notification.requestPermission().then(function () { button.hidden = true; });
      });
    }
    // Each offer announced once in this tab: its event and a check after a reconnect can
    // both find it, and the page reloads in between.
    const notify = function (offers) {
      const seen = JSON.parse(sessionStorage.getItem("announced") || "[]");
      const fresh = offers.filter(function (id) { return seen.indexOf(id) < 0; });
      if (!fresh.length) return;
      sessionStorage.setItem("announced", JSON.stringify(seen.concat(fresh).slice(-200)));
      if ("Notification" in window && Notification.permission === "granted") {
        new Notification("Nieuw aanbod", { body: "Er is een melding aan je aangeboden." });
      }
    };
    const shown = Array.prototype.map.call(
      document.querySelectorAll("#offers [data-assignment-id]"),
      function (el) { return el.getAttribute("data-assignment-id"); });
    const changed = function () {
      if (timer === null) timer = setTimeout(reload, 200);  // one reload for a burst
    };
    // What the page shows, as the service sees it now: another version, another page.
    const check = function () {
      fetch(mine.getAttribute("data-live-reload"), { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
        .then(function (now) {
          again.worked();
          if (now.version === mine.getAttribute("data-version")) return;
          notify(now.offers.filter(function (id) { return shown.indexOf(id) < 0; }));
          changed();
        })
        .catch(function () { say("Bijwerken mislukt; het wordt opnieuw geprobeerd."); again.failed(); });
    };
    const again = retrying(check);
    const told = sessionStorage.getItem("gone");
    if (told) {
      sessionStorage.removeItem("gone");
      const note = document.createElement("p");
      note.className = "ok";
      note.setAttribute("role", "status");
      note.id = "gone";
      note.textContent = told;
      mine.insertAdjacentElement("beforebegin", note);
    }
    events(function (name, data) {
      if (MINE.indexOf(name) < 0) return;
      if (name === "offer") notify([String(data.assignment_id)]);
      const said = gone(name, data);
      if (said) {
        const before = sessionStorage.getItem("gone");
        sessionStorage.setItem("gone", before && before !== said ? before + " " + said : said);
      }
      changed();
    }, check);
  }

  // The new melding's form: the gebied that the postcode (else the woonplaats) gives, as
  // it is typed.
  const hint = document.getElementById("gebied-hint");
  if (hint) {
    let timer = null;
    const look = function () {
      const form = hint.closest("form");
      // The postcode's four digits only: the query is in the address, which proxies log.
      const query = new URLSearchParams({
        pc4: form.elements.postcode.value.trim().slice(0, 4),
        woonplaats: form.elements.woonplaats.value,
      });
      fetch("/nieuwe-melding/gebied?" + query.toString(), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (found) {
          hint.textContent = found.gebied
            ? "Gebied: " + (found.naam || found.gebied) + (found.note ? ". " + found.note : "")
            : (found.note || "Het gebied volgt uit de postcode.");
        })
        .catch(function () { /* the service decides on submit anyway */ });
    };
    document.querySelectorAll("[data-gebied-hint]").forEach(function (input) {
      input.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(look, 250);
      });
    });
    // A refused form comes back with what was typed (restore, above): its gebied too.
    const typed = hint.closest("form").elements;
    if (typed.postcode.value.trim() || typed.woonplaats.value.trim()) look();
  }

  // Someone typing in a form is using the session: it is kept alive while they type (at
  // most one request in five minutes), so that a long call typed in does not find it ended
  // when it is sent. A page nobody types in still ends after the idle time. When the
  // session has ended all the same (its day's limit, a logout elsewhere), they are told
  // at once, before they type on.
  let kept = Date.now();
  let warned = false;
  document.addEventListener("input", function (e) {
    if (!e.target.form || warned || Date.now() - kept < 300000) return;
    kept = Date.now();
    fetch("/sessie", { credentials: "same-origin", redirect: "manual" })
      .then(function (r) {
        if (r.status === 204) return;
        warned = true;
        const alert = document.createElement("p");
        alert.className = "alert";
        alert.setAttribute("role", "alert");
        alert.textContent = "Je sessie is verlopen: wat je hier typt kan niet meer worden " +
          "verstuurd. Kopieer het, log opnieuw in en vul het daarna opnieuw in.";
        const main = document.querySelector("main");
        if (main) main.insertBefore(alert, main.firstChild);
      })
      .catch(function () { kept = Date.now() - 240000; /* offline: again in a minute */ });
  });

  countdown();
  setInterval(countdown, 15000);
})();
