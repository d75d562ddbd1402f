/* hitl dev: renders the emulated Slack workspace and turns clicks into the bot's Slack requests.
 *
 * Everything the bot wrote is untrusted here too: text reaches the page only through textContent and DOM nodes
 * built by hand (the mrkdwn renderer below never produces HTML strings), and links only keep http(s)/mailto.
 * Plain vanilla JS, no build step, no network beyond this origin.
 */
(function () {
  "use strict";

  const POLL_MS = 700;
  const STORE_KEY = "hitl-dev";

  // ---- small DOM helpers -------------------------------------------------------------

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function $(id) { return document.getElementById(id); }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function toast(message, kind) {
    const node = el("div", "toast" + (kind === "error" ? " error" : ""), message);
    $("toasts").appendChild(node);
    setTimeout(() => node.remove(), kind === "error" ? 7000 : 3500);
  }

  function loadPrefs() {
    try { return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {}; } catch (e) { return {}; }
  }
  function savePrefs() {
    try { localStorage.setItem(STORE_KEY, JSON.stringify({ user: S.user, channel: S.channel })); } catch (e) { /* private mode */ }
  }

  // ---- state ---------------------------------------------------------------------------

  const prefs = loadPrefs();
  const params = new URLSearchParams(location.search);
  const S = {
    user: params.get("user") || prefs.user || null,
    channel: params.get("channel") || prefs.channel || null,
    thread: null,          // ts of the open thread's parent
    data: null,            // the last /ui/state
    version: null,
    seen: {},              // user -> channel -> count of messages seen
    known: {},             // channel -> Set of ts already shown (to flash new ones)
    modalKey: null,
    modalValues: {},       // view id -> {block_id: value} kept across re-renders of the same view
    keys: {},              // render keys, to skip unchanged parts
    pending: 0,
    pollTimer: null,
    flashTs: null,
  };

  // ---- server --------------------------------------------------------------------------

  async function post(path, body) {
    S.pending++;
    try {
      const response = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      let data = null;
      try { data = await response.json(); } catch (e) { data = null; }
      if (!response.ok) {
        const message = (data && (data.message || data.error)) || ("HTTP " + response.status);
        const error = new Error(message);
        error.data = data;
        throw error;
      }
      return data || {};
    } finally {
      S.pending--;
      schedulePoll(60);
      setTimeout(() => schedulePoll(0), 400);
    }
  }

  let pollSeq = 0, appliedSeq = 0;
  async function poll() {
    S.pollTimer = null;
    const seq = ++pollSeq;
    const query = new URLSearchParams();
    if (S.user) query.set("user", S.user);
    if (S.version) query.set("since", S.version);
    try {
      const response = await fetch("/ui/state?" + query.toString(), { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const data = await response.json();
      $("offline").hidden = true;
      if (seq < appliedSeq) return; // an older answer overtaken by a newer one
      appliedSeq = seq;
      if (!data.unchanged) {
        S.version = data.version;
        S.data = data;
        render();
      }
    } catch (e) {
      $("offline").hidden = false;
    }
    schedulePoll(POLL_MS);
  }

  function schedulePoll(ms) {
    if (S.pollTimer !== null) {
      if (ms > 0) return;
      clearTimeout(S.pollTimer);
    }
    S.pollTimer = setTimeout(poll, ms);
  }

  function refreshNow() { S.version = null; schedulePoll(0); }

  // ---- names and time -------------------------------------------------------------------

  function userName(id) {
    const names = (S.data && S.data.names && S.data.names.users) || {};
    return names[id] || id;
  }
  function channelName(id) {
    const names = (S.data && S.data.names && S.data.names.channels) || {};
    return names[id] || id;
  }
  function initials(name) {
    const words = String(name || "?").trim().split(/\s+/).filter(Boolean);
    return ((words[0] || "?")[0] + (words.length > 1 ? words[1][0] : "")).toUpperCase();
  }
  function nowEpoch() { return S.data ? S.data.now_epoch : Date.now() / 1000; }
  function tsDate(ts) { return new Date(parseFloat(ts) * 1000); }

  const fmtTime = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
  const fmtTimeSecs = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit", second: "2-digit" });
  const fmtFull = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
  const fmtClock = new Intl.DateTimeFormat(undefined, { weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
  const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

  function ordinal(n) {
    const s = ["th", "st", "nd", "rd"], v = n % 100;
    return n + (s[(v - 20) % 10] || s[v] || s[0]);
  }
  function pad(n) { return String(n).padStart(2, "0"); }
  function dayNumber(d) { return Math.floor((d.getTime() - d.getTimezoneOffset() * 60000) / 86400000); }

  function relativeDay(d) {
    const diff = dayNumber(d) - dayNumber(new Date(nowEpoch() * 1000));
    return diff === 0 ? "today" : diff === -1 ? "yesterday" : diff === 1 ? "tomorrow" : null;
  }

  function agoText(d) {
    const seconds = Math.round(nowEpoch() - d.getTime() / 1000);
    const abs = Math.abs(seconds);
    const units = [[86400 * 365, "year"], [86400 * 30, "month"], [86400, "day"], [3600, "hour"], [60, "minute"]];
    let text = "just now";
    for (const [size, name] of units) {
      if (abs >= size) {
        const n = Math.floor(abs / size);
        text = n + " " + name + (n === 1 ? "" : "s");
        return seconds >= 0 ? text + " ago" : "in " + text;
      }
    }
    return abs < 60 && abs >= 1 ? (seconds >= 0 ? abs + " seconds ago" : "in " + abs + " seconds") : text;
  }

  // Slack's <!date^epoch^format|fallback> tokens, in the browser's time zone; "today" is the bot's today.
  function formatSlackDate(epoch, format) {
    const d = new Date(epoch * 1000);
    const base = {
      date_num: d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()),
      date: MONTHS[d.getMonth()] + " " + ordinal(d.getDate()) + ", " + d.getFullYear(),
      date_short: MONTHS[d.getMonth()].slice(0, 3) + " " + d.getDate() + ", " + d.getFullYear(),
      date_long: DAYS[d.getDay()] + ", " + MONTHS[d.getMonth()] + " " + ordinal(d.getDate()) + ", " + d.getFullYear(),
      time: fmtTime.format(d),
      time_secs: fmtTimeSecs.format(d),
      ago: agoText(d),
    };
    const rel = relativeDay(d);
    base.date_pretty = rel || base.date;
    base.date_short_pretty = rel || base.date_short;
    base.date_long_pretty = rel || base.date_long;
    let out = String(format).replace(/\{(\w+)\}/g, (m, key) => (key in base ? base[key] : m));
    if (rel && /^\{date(_short|_long)?_pretty\}/.test(format)) out = out.charAt(0).toUpperCase() + out.slice(1);
    return out;
  }

  // ---- mrkdwn ------------------------------------------------------------------------------

  const EMOJI = {
    white_check_mark: "✅", heavy_check_mark: "✔️", x: "❌", warning: "⚠️", rotating_light: "🚨", alarm_clock: "⏰",
    raising_hand: "🙋", no_entry: "⛔", sos: "🆘", repeat: "🔁", tada: "🎉", double_vertical_bar: "⏸️",
    pause_button: "⏸️", arrow_forward: "▶️", mag: "🔍", memo: "📝", bulb: "💡", eyes: "👀", thumbsup: "👍",
    "+1": "👍", thumbsdown: "👎", "-1": "👎", pencil2: "✏️", hourglass: "⌛", hourglass_flowing_sand: "⏳",
    bell: "🔔", fire: "🔥", lock: "🔒", robot_face: "🤖", speech_balloon: "💬", information_source: "ℹ️",
    large_green_circle: "🟢", large_yellow_circle: "🟡", red_circle: "🔴", large_orange_circle: "🟠",
    clipboard: "📋", link: "🔗", wave: "👋", calendar: "📅", stopwatch: "⏱️", no_entry_sign: "🚫",
  };
  function emojify(text) {
    return text.replace(/:([a-z0-9_+\-]+):/g, (m, name) => EMOJI[name] || m);
  }
  function decodeEntities(text) {
    return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  const PERMALINK = /^https:\/\/[a-z0-9-]+\.slack\.com\/archives\/([A-Z0-9]+)\/p(\d{10})(\d{6})(?:\?(.*))?$/;
  function safeHref(url) {
    return /^(https?:|mailto:)/i.test(url) ? url : null;
  }

  function linkNode(url, label) {
    const href = safeHref(url);
    if (!href) return document.createTextNode(label || url);
    const a = el("a", null, label || url);
    a.href = href;
    const perma = PERMALINK.exec(href);
    if (perma) {
      a.title = "Open in this workspace";
      a.addEventListener("click", (event) => {
        event.preventDefault();
        const query = new URLSearchParams(perma[4] || "");
        openMessage(perma[1], perma[2] + "." + perma[3], query.get("thread_ts"));
      });
    } else {
      a.target = "_blank";
      a.rel = "noopener noreferrer";
    }
    return a;
  }

  // One <…> control sequence: a link, a mention or a date.
  function angleNode(inner) {
    const bar = inner.indexOf("|");
    const head = bar >= 0 ? inner.slice(0, bar) : inner;
    const label = bar >= 0 ? decodeEntities(inner.slice(bar + 1)) : null;
    if (head.startsWith("@")) {
      const id = head.slice(1);
      const node = el("span", "mention" + (S.data && id === S.user ? " me" : ""), "@" + (label || userName(id)));
      node.title = id;
      node.dataset.user = id;
      return node;
    }
    if (head.startsWith("#")) {
      const id = head.slice(1);
      const node = el("a", "mention", "#" + (label || channelName(id)));
      node.href = "#";
      node.addEventListener("click", (event) => { event.preventDefault(); selectChannel(id); });
      return node;
    }
    if (head.startsWith("!subteam^")) {
      const id = head.slice("!subteam^".length);
      const groups = (S.data && S.data.names && S.data.names.usergroups) || {};
      const members = groups[id] || [];
      const node = el("span", "mention" + (members.indexOf(S.user) >= 0 ? " me" : ""), label ? (label.startsWith("@") ? label : "@" + label) : "@" + id);
      node.title = members.length ? "User group " + id + ": " + members.map(userName).join(", ") : "User group " + id;
      return node;
    }
    if (head.startsWith("!date^")) {
      const parts = head.split("^");
      const epoch = parseInt(parts[1], 10);
      if (!isFinite(epoch)) return document.createTextNode(label || inner);
      const node = el("span", "slack-date", formatSlackDate(epoch, parts[2] || "{date_short} {time}"));
      node.title = fmtFull.format(new Date(epoch * 1000)) + " (" + Intl.DateTimeFormat().resolvedOptions().timeZone + ")";
      if (parts[3] && safeHref(parts[3])) {
        const a = linkNode(parts[3], node.textContent);
        a.title = node.title;
        return a;
      }
      return node;
    }
    if (head === "!here" || head === "!channel" || head === "!everyone") {
      return el("span", "mention broadcast", "@" + head.slice(1));
    }
    if (head.startsWith("!")) return document.createTextNode(label || head.slice(1));
    const link = linkNode(decodeEntities(head), label);
    if (bar >= 0 && link.tagName === "A") {
      // A link's label is mrkdwn too (`<url|`case-1`>` shows a code-styled link, as in Slack).
      link.textContent = "";
      appendInline(link, inner.slice(bar + 1), { tokens: [], verbatim: true });
    }
    return link;
  }

  // Placeholders stand for <…> sequences while styles are parsed; bot text cannot contain them (stripped first).
  const PH_OPEN = "\u0001", PH_CLOSE = "\u0002";
  const PH_RE = /\u0001(\d+)\u0002/g;
  const STYLES = [
    { tag: "code", re: /`([^`\n]+)`/, code: true },
    { tag: "strong", re: /(^|[^\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])/ },
    { tag: "em", re: /(^|[^\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])/ },
    { tag: "s", re: /(^|[^\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])/ },
  ];
  const BARE_URL = /\bhttps?:\/\/[^\s<>]+[^\s<>.,;:!?)\]'"]/g;

  function appendText(parent, text, ctx) {
    // Text between markup: placeholders become their nodes, entities are decoded, emoji codes converted.
    let last = 0;
    for (const m of text.matchAll(PH_RE)) { // matchAll: angleNode may re-enter here (link labels)
      appendPlain(parent, text.slice(last, m.index), ctx);
      parent.appendChild(angleNode(ctx.tokens[parseInt(m[1], 10)] || ""));
      last = m.index + m[0].length;
    }
    appendPlain(parent, text.slice(last), ctx);
  }

  function appendPlain(parent, text, ctx) {
    if (!text) return;
    const decoded = emojify(decodeEntities(text));
    if (ctx.verbatim) { parent.appendChild(document.createTextNode(decoded)); return; }
    let last = 0;
    for (const m of decoded.matchAll(BARE_URL)) {
      parent.appendChild(document.createTextNode(decoded.slice(last, m.index)));
      parent.appendChild(linkNode(m[0], m[0]));
      last = m.index + m[0].length;
    }
    parent.appendChild(document.createTextNode(decoded.slice(last)));
  }

  function appendInline(parent, text, ctx) {
    while (text) {
      let best = null;
      for (const style of STYLES) {
        const m = style.re.exec(text);
        if (!m) continue;
        const start = style.code ? m.index : m.index + m[1].length;
        if (!best || start < best.start) best = { style, m, start };
      }
      if (!best) { appendText(parent, text, ctx); return; }
      appendText(parent, text.slice(0, best.start), ctx);
      const inner = best.style.code ? best.m[1] : best.m[2];
      const node = el(best.style.tag);
      if (best.style.code) appendText(node, inner, Object.assign({}, ctx, { verbatim: true }));
      else appendInline(node, inner, ctx);
      parent.appendChild(node);
      text = text.slice(best.m.index + best.m[0].length);
    }
  }

  function appendLines(parent, text, ctx) {
    const lines = text.split("\n");
    let run = [], quote = [];
    const flushRun = () => {
      if (!run.length) return;
      const span = el("span");
      appendInline(span, run.join("\n"), ctx);
      parent.appendChild(span);
      run = [];
    };
    const flushQuote = () => {
      if (!quote.length) return;
      const q = el("blockquote", "quote");
      appendInline(q, quote.join("\n"), ctx);
      parent.appendChild(q);
      quote = [];
    };
    for (const line of lines) {
      const m = /^(?:&gt;|>)\s?(.*)$/.exec(line);
      if (m) { flushRun(); quote.push(m[1]); }
      else { flushQuote(); run.push(line); }
    }
    flushRun();
    flushQuote();
  }

  function renderMrkdwn(text, options) {
    const root = el("div", "mrkdwn");
    const ctx = { tokens: [], verbatim: !!(options && options.verbatim) };
    let source = String(text || "").replace(/[\u0001\u0002]/g, "\uFFFD");
    source = source.replace(/<([^<>\n]+)>/g, (m, inner) => { ctx.tokens.push(inner); return PH_OPEN + (ctx.tokens.length - 1) + PH_CLOSE; });
    const pre = /```([\s\S]*?)```/g;
    let last = 0, m;
    while ((m = pre.exec(source)) !== null) {
      if (m.index > last) appendLines(root, source.slice(last, m.index).replace(/\n$/, ""), ctx);
      const block = el("pre", "pre");
      appendText(block, m[1].replace(/^\n/, ""), Object.assign({}, ctx, { verbatim: true }));
      root.appendChild(block);
      last = m.index + m[0].length;
    }
    if (last < source.length) appendLines(root, last ? source.slice(last).replace(/^\n/, "") : source, ctx);
    return root;
  }

  function textObject(obj, cls) {
    if (!obj) return el("span");
    if (typeof obj === "string") return el("span", cls, obj);
    if (obj.type === "mrkdwn") {
      const node = renderMrkdwn(obj.text, { verbatim: obj.verbatim });
      if (cls) node.classList.add(cls);
      return node;
    }
    return el("span", cls, obj.emoji === false ? obj.text : emojify(String(obj.text || "")));
  }
  function plainText(obj) {
    if (!obj) return "";
    return typeof obj === "string" ? obj : (obj.emoji === false ? String(obj.text || "") : emojify(String(obj.text || "")));
  }

  // ---- Block Kit: messages -------------------------------------------------------------------

  function imageNode(url, alt, cls) {
    if (!safeHref(url) && !/^data:image\//.test(url || "")) return el("span", "image-missing", "[image: " + (alt || url || "") + "]");
    const img = el("img", cls);
    img.src = url;
    img.alt = alt || "";
    img.loading = "lazy";
    img.referrerPolicy = "no-referrer";
    img.addEventListener("error", () => img.replaceWith(el("span", "image-missing", "[image: " + (alt || url) + "]")));
    return img;
  }

  function buttonNode(element, onAction) {
    const cls = "btn" + (element.style === "primary" ? " primary" : element.style === "danger" ? " danger" : "");
    const button = el("button", cls, plainText(element.text));
    button.type = "button";
    button.dataset.actionId = element.action_id || "";
    if (element.value !== undefined) button.dataset.value = element.value;
    if (element.accessibility_label) button.setAttribute("aria-label", element.accessibility_label);
    button.addEventListener("click", async () => {
      if (element.confirm && !window.confirm(plainText(element.confirm.title) + "\n\n" + plainText(element.confirm.text))) return;
      if (element.url && safeHref(element.url)) window.open(element.url, "_blank", "noopener,noreferrer");
      button.classList.add("busy");
      button.disabled = true;
      try { await onAction(element, element.value); }
      finally { button.classList.remove("busy"); button.disabled = false; }
    });
    return button;
  }

  function selectNode(element, onAction) {
    const select = el("select", "select-inline");
    select.dataset.actionId = element.action_id || "";
    fillOptions(select, element, plainText(element.placeholder) || "Select an item");
    select.addEventListener("change", () => { if (select.value) onAction(element, select.value); });
    return select;
  }

  function interactiveNode(element, onAction) {
    if (element.type === "button") return buttonNode(element, onAction);
    if (element.type === "static_select" || element.type === "overflow") return selectNode(element, onAction);
    if (element.type === "image") return imageNode(element.image_url, element.alt_text, null);
    return el("span", "unsupported", "[" + element.type + "]");
  }

  function richTextNode(element) {
    const root = el("div", "rich");
    const inline = (parent, items) => {
      for (const item of items || []) {
        let node;
        if (item.type === "text") node = el("span", null, item.text);
        else if (item.type === "link") node = linkNode(item.url, item.text || item.url);
        else if (item.type === "user") node = angleNode("@" + item.user_id);
        else if (item.type === "channel") node = angleNode("#" + item.channel_id);
        else if (item.type === "usergroup") node = angleNode("!subteam^" + item.usergroup_id);
        else if (item.type === "emoji") node = el("span", null, item.unicode ? String.fromCodePoint(...item.unicode.split("-").map((h) => parseInt(h, 16))) : emojify(":" + item.name + ":"));
        else if (item.type === "broadcast") node = el("span", "mention broadcast", "@" + item.range);
        else if (item.type === "date") node = el("span", "slack-date", formatSlackDate(item.timestamp, item.format || "{date_short} {time}"));
        else node = el("span", "unsupported", "[" + item.type + "]");
        const style = item.style || {};
        for (const [flag, tag] of [["code", "code"], ["strike", "s"], ["italic", "em"], ["bold", "strong"]]) {
          if (style[flag]) { const wrap = el(tag); wrap.appendChild(node); node = wrap; }
        }
        parent.appendChild(node);
      }
    };
    for (const part of element.elements || []) {
      if (part.type === "rich_text_section") { const p = el("div", "mrkdwn"); inline(p, part.elements); root.appendChild(p); }
      else if (part.type === "rich_text_quote") { const q = el("blockquote", "quote mrkdwn"); inline(q, part.elements); root.appendChild(q); }
      else if (part.type === "rich_text_preformatted") { const p = el("pre", "pre"); inline(p, part.elements); root.appendChild(p); }
      else if (part.type === "rich_text_list") {
        const list = el(part.style === "ordered" ? "ol" : "ul");
        for (const section of part.elements || []) { const li = el("li"); inline(li, section.elements); list.appendChild(li); }
        root.appendChild(list);
      }
    }
    return root;
  }

  // ctx: {onAction(element, value, block), surface: "message" | "modal", view}
  function renderBlock(block, ctx) {
    const act = (element, value) => ctx.onAction(element, value, block);
    let node;
    switch (block.type) {
      case "header":
        node = el("div", "block-header", plainText(block.text));
        break;
      case "section": {
        node = el("div", "block-section");
        const main = el("div", "section-main");
        if (block.text) main.appendChild(textObject(block.text));
        if (block.fields && block.fields.length) {
          const fields = el("div", "fields");
          for (const field of block.fields) fields.appendChild(textObject(field));
          main.appendChild(fields);
        }
        node.appendChild(main);
        if (block.accessory) {
          const acc = el("div", "accessory");
          acc.appendChild(interactiveNode(block.accessory, act));
          node.appendChild(acc);
        }
        break;
      }
      case "context":
        node = el("div", "block-context");
        for (const element of block.elements || []) {
          node.appendChild(element.type === "image" ? imageNode(element.image_url, element.alt_text, null) : textObject(element));
        }
        break;
      case "divider":
        node = el("hr", "block-divider");
        break;
      case "actions":
        node = el("div", "block-actions");
        for (const element of block.elements || []) node.appendChild(interactiveNode(element, act));
        break;
      case "image": {
        node = el("figure", "block-image");
        if (block.title) node.appendChild(el("figcaption", null, plainText(block.title)));
        node.appendChild(imageNode(block.image_url || (block.slack_file && block.slack_file.url), block.alt_text, null));
        break;
      }
      case "rich_text":
        node = richTextNode(block);
        break;
      case "input":
        node = ctx.surface === "modal" ? renderInput(block, ctx) : el("div", "unsupported", "[input block outside a modal]");
        break;
      default:
        node = el("div", "unsupported", "[" + block.type + " block]");
    }
    node.dataset.blockId = block.block_id || "";
    node.dataset.blockType = block.type;
    return node;
  }

  function renderBlocks(blocks, ctx) {
    const root = el("div", "blocks");
    for (const block of blocks || []) root.appendChild(renderBlock(block, ctx));
    return root;
  }

  // ---- messages ---------------------------------------------------------------------------

  async function clickInMessage(channel, message, element, value, block) {
    try {
      const answer = await post("/ui/click", {
        user: S.user, channel: channel, ts: message.ts,
        action_id: element.action_id, block_id: block.block_id, value: value === undefined ? null : value,
      });
      if (!answer.ok) toast("The bot answered HTTP " + answer.status + " (Slack shows the user an error icon)", "error");
    } catch (e) {
      toast(e.message, "error");
    }
  }

  function renderMessage(channelId, message, options) {
    const node = el("div", "msg" + (message.ephemeral ? " ephemeral" : ""));
    node.dataset.ts = message.ts;
    node.dataset.channel = channelId;
    if (message.ephemeral) node.dataset.ephemeral = "true";
    const name = message.bot ? "hitl" : (message.user_name || userName(message.user));
    const avatar = el("div", "avatar" + (message.bot ? " bot" : ""), message.bot ? "h" : initials(name));
    node.appendChild(avatar);
    const body = el("div", "msg-body");
    if (message.broadcast && !options.inThread) {
      const note = el("div", "broadcast-note", "replied to a thread");
      const link = el("button", "link-button", " · view thread");
      link.type = "button";
      link.addEventListener("click", () => openThread(message.thread_ts));
      note.appendChild(link);
      body.appendChild(note);
    }
    const head = el("div", "msg-head");
    head.appendChild(el("span", "author", name));
    if (message.bot) head.appendChild(el("span", "app-badge", "APP"));
    const time = el("span", "time", fmtTime.format(tsDate(message.ts)));
    time.title = fmtFull.format(tsDate(message.ts));
    head.appendChild(time);
    if (message.edited) head.appendChild(el("span", "edited", "(edited)"));
    body.appendChild(head);
    const onAction = (element, value, block) => clickInMessage(channelId, message, element, value, block);
    if (message.blocks && message.blocks.length) body.appendChild(renderBlocks(message.blocks, { onAction, surface: "message" }));
    else body.appendChild(renderMrkdwn(message.text, {}));
    if (message.ephemeral) {
      const eph = el("div", "eph-note");
      eph.appendChild(el("span", null, "👁 Only visible to you"));
      const dismiss = el("button", "link-button", "Dismiss message");
      dismiss.type = "button";
      dismiss.addEventListener("click", async () => {
        try { await post("/ui/dismiss", { user: S.user, channel: channelId, ts: message.ts }); } catch (e) { toast(e.message, "error"); }
      });
      eph.appendChild(dismiss);
      body.appendChild(eph);
    }
    const replies = message.replies || [];
    if (!options.inThread && replies.length) {
      const link = el("button", "replies-link");
      link.type = "button";
      link.dataset.thread = message.ts;
      const lastReply = replies[replies.length - 1];
      const count = message.reply_count || 0;
      const mine = replies.length - count;
      link.appendChild(el("span", "replies-count", (count ? count + (count === 1 ? " reply" : " replies") : "") + (count && mine ? " + " : "") + (mine ? mine + " only visible to you" : "")));
      if (lastReply) link.appendChild(el("span", "replies-last", "Last reply " + fmtTime.format(tsDate(lastReply.ts))));
      link.addEventListener("click", () => openThread(message.ts));
      body.appendChild(link);
    }
    node.appendChild(body);
    return node;
  }

  function dayLabel(ts) {
    const d = tsDate(ts);
    const rel = relativeDay(d);
    return rel ? rel.charAt(0).toUpperCase() + rel.slice(1) : new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric" }).format(d);
  }

  function renderTimeline(container, channelId, messages, options) {
    const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 60;
    const scrollTop = container.scrollTop;
    clear(container);
    const known = S.known[channelId + (options.inThread ? ":" + S.thread : "")];
    const fresh = new Set();
    let lastDay = null, newEphemeral = null;
    for (const message of messages) {
      const day = dayNumber(tsDate(message.ts));
      if (day !== lastDay && !options.inThread) {
        const divider = el("div", "day-divider");
        divider.appendChild(el("span", null, dayLabel(message.ts)));
        container.appendChild(divider);
        lastDay = day;
      }
      const node = renderMessage(channelId, message, options);
      if (known && !known.has(message.ts)) {
        node.classList.add("flash");
        if (message.ephemeral) newEphemeral = node; // an answer to something this user just did: bring it into view
      }
      if (options.parentTs && message.ts === options.parentTs) {
        container.appendChild(node);
        const count = (messages.length - 1);
        container.appendChild(el("div", "thread-count", count + (count === 1 ? " reply" : " replies")));
        fresh.add(message.ts);
        continue;
      }
      container.appendChild(node);
      fresh.add(message.ts);
    }
    S.known[channelId + (options.inThread ? ":" + S.thread : "")] = fresh;
    if (S.flashTs) {
      const target = container.querySelector('.msg[data-ts="' + CSS.escape(S.flashTs) + '"]');
      if (target) {
        target.classList.remove("flash");
        void target.offsetWidth;
        target.classList.add("flash");
        target.scrollIntoView({ block: "center" });
        if (!options.inThread || S.flashInThread) S.flashTs = null;
        return;
      }
    }
    container.scrollTop = atBottom || options.forceBottom ? container.scrollHeight : scrollTop;
    if (newEphemeral) newEphemeral.scrollIntoView({ block: "nearest" });
  }

  // ---- channels, threads ----------------------------------------------------------------

  function currentChannel() {
    if (!S.data) return null;
    return S.data.channels.find((c) => c.id === S.channel) || S.data.channels[0] || null;
  }

  function visibleCount(channel) { return channel.messages.filter((m) => !m.ephemeral).length; }

  function seenFor(user) {
    if (!S.seen[user]) S.seen[user] = {};
    return S.seen[user];
  }

  function selectChannel(id) {
    if (!S.data || !S.data.channels.some((c) => c.id === id)) { toast("#" + channelName(id) + " is not in the sidebar", "error"); return; }
    const changed = S.channel !== id;
    S.channel = id;
    if (changed) { S.thread = null; S.keys = {}; }
    savePrefs();
    render({ forceBottom: changed });
  }

  function openThread(ts) {
    S.thread = ts;
    S.keys.thread = null;
    render();
  }

  function openMessage(channelId, ts, threadTs) {
    S.flashTs = ts;
    S.flashInThread = !!threadTs && threadTs !== ts;
    if (S.channel !== channelId) { S.channel = channelId; S.thread = null; savePrefs(); }
    if (threadTs && threadTs !== ts) S.thread = threadTs;
    S.keys = {};
    render();
  }

  function renderSidebar() {
    const data = S.data;
    const me = $("me");
    clear(me);
    me.appendChild(el("div", "me-name", data.user.name || data.user.id));
    const roles = data.user.roles || [];
    if (roles.length) for (const role of roles) me.appendChild(el("span", "role", role));
    else me.appendChild(el("span", "role role-none", "no role in the policy"));
    $("me-avatar").textContent = initials(data.user.name || data.user.id);

    const seen = seenFor(S.user);
    const lists = { channel: $("channel-list"), other: $("other-list") };
    clear(lists.channel);
    clear(lists.other);
    let others = 0;
    for (const channel of data.channels) {
      const count = visibleCount(channel);
      if (!(channel.id in seen)) seen[channel.id] = count;
      if (channel.id === S.channel) seen[channel.id] = count;
      const unread = Math.max(0, count - seen[channel.id]);
      const li = el("li");
      const button = el("button", "channel-link" + (channel.id === S.channel ? " active" : "") + (unread ? " unread" : ""));
      button.type = "button";
      button.dataset.channel = channel.id;
      button.title = channel.purpose || channel.name;
      button.appendChild(el("span", "channel-hash", channel.kind === "dm" ? "●" : "#"));
      button.appendChild(el("span", "channel-name", channel.name));
      if (unread) button.appendChild(el("span", "badge", String(unread)));
      button.addEventListener("click", () => selectChannel(channel.id));
      li.appendChild(button);
      if (channel.kind === "channel") lists.channel.appendChild(li);
      else { lists.other.appendChild(li); others++; }
    }
    $("other-section").hidden = others === 0;
  }

  function renderUsers() {
    const select = $("user-select");
    const key = JSON.stringify(S.data.users) + S.user;
    if (S.keys.users === key) return;
    S.keys.users = key;
    clear(select);
    for (const user of S.data.users) {
      const roles = user.roles && user.roles.length ? user.roles.join(", ") : "outsider";
      const option = el("option", null, (user.name || user.id) + " · " + roles);
      option.value = user.id;
      select.appendChild(option);
    }
    if (!S.data.users.some((u) => u.id === S.user)) {
      const option = el("option", null, userName(S.user) + " · " + S.user);
      option.value = S.user;
      select.appendChild(option);
    }
    select.value = S.user;
  }

  function renderClock() {
    const now = new Date(S.data.now_epoch * 1000);
    $("clock-now").textContent = fmtClock.format(now);
    $("clock-now").title = fmtFull.format(now) + " in " + Intl.DateTimeFormat().resolvedOptions().timeZone;
    const ahead = S.data.now_epoch - Date.now() / 1000;
    $("clock-offset").textContent = ahead > 90 ? "(" + durationText(ahead) + " ahead of real time)" : "";
  }

  function durationText(seconds) {
    seconds = Math.round(Math.abs(seconds));
    const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60);
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + pad(m) + "m";
    return m + "m";
  }

  function renderChannel(options) {
    const channel = currentChannel();
    if (!channel) {
      $("channel-title").textContent = "No channels";
      clear($("messages"));
      return;
    }
    S.channel = channel.id;
    const title = $("channel-title");
    title.textContent = (channel.kind === "dm" ? "" : "# ") + channel.name;
    $("channel-purpose").textContent = channel.purpose ? channel.purpose + " · " + channel.id : channel.id;
    $("command-input").placeholder = "Run a command in #" + channel.name + ": /hitl status";
    const key = JSON.stringify([channel.id, channel.messages, S.data.names, Math.floor(S.data.now_epoch / 60), S.user]);
    if (S.keys.channel === key && !S.flashTs) return;
    S.keys.channel = key;
    const container = $("messages");
    if (!channel.messages.length) {
      clear(container);
      const empty = el("div", "empty");
      empty.appendChild(el("h2", null, "#" + channel.name));
      empty.appendChild(el("div", null, "This is the very beginning of #" + channel.name + ". " + (channel.purpose ? "Purpose: " + channel.purpose + ". " : "") + "The bot's messages land here."));
      container.appendChild(empty);
      return;
    }
    renderTimeline(container, channel.id, channel.messages, { inThread: false, forceBottom: options && options.forceBottom });
  }

  function renderThread() {
    const channel = currentChannel();
    const parent = channel && S.thread ? channel.messages.find((m) => m.ts === S.thread && !m.broadcast) : null;
    const panel = $("thread");
    if (!parent) {
      panel.hidden = true;
      $("main").classList.remove("with-thread");
      S.thread = null;
      return;
    }
    panel.hidden = false;
    $("main").classList.add("with-thread");
    $("thread-sub").textContent = "#" + channel.name;
    const messages = [parent].concat(parent.replies || []);
    const key = JSON.stringify([channel.id, messages, S.data.names, Math.floor(S.data.now_epoch / 60), S.user]);
    if (S.keys.thread === key && !S.flashTs) return;
    S.keys.thread = key;
    const opened = S.keys.threadTs !== parent.ts;
    S.keys.threadTs = parent.ts;
    renderTimeline($("thread-messages"), channel.id, messages, { inThread: true, parentTs: parent.ts, forceBottom: opened });
  }

  // ---- modals ----------------------------------------------------------------------------

  function fillOptions(select, element, placeholder) {
    const blank = el("option", null, placeholder);
    blank.value = "";
    select.appendChild(blank);
    const add = (parent, option) => {
      const node = el("option", null, plainText(option.text));
      node.value = option.value;
      parent.appendChild(node);
    };
    for (const option of element.options || []) add(select, option);
    for (const group of element.option_groups || []) {
      const g = el("optgroup");
      g.label = plainText(group.label);
      for (const option of group.options || []) add(g, option);
      select.appendChild(g);
    }
    const initial = element.initial_option;
    select.value = initial ? initial.value : "";
  }

  function renderInput(block, ctx) {
    const element = block.element || {};
    const node = el("div", "input-block");
    const id = "in-" + (ctx.view ? ctx.view.id : "x") + "-" + (block.block_id || "");
    const label = el("label", "input-label", plainText(block.label));
    label.htmlFor = id;
    if (block.optional) label.appendChild(el("span", "input-optional", " (optional)"));
    node.appendChild(label);
    node.dataset.kind = element.type || "";
    node.dataset.optional = block.optional ? "true" : "false";
    node.dataset.actionId = element.action_id || "";
    const kept = ctx.kept || {};
    const has = Object.prototype.hasOwnProperty.call(kept, block.block_id);
    let control;
    switch (element.type) {
      case "plain_text_input":
      case "email_text_input":
      case "url_text_input": {
        control = el(element.multiline ? "textarea" : "input", "control");
        if (!element.multiline) control.type = element.type === "email_text_input" ? "email" : element.type === "url_text_input" ? "url" : "text";
        if (element.max_length) control.maxLength = element.max_length;
        if (element.placeholder) control.placeholder = plainText(element.placeholder);
        control.value = has ? kept[block.block_id] : (element.initial_value || "");
        if (element.multiline) {
          control.rows = Math.min(14, Math.max(4, String(control.value).split("\n").length + Math.ceil(String(control.value).length / 70)));
        }
        node.appendChild(control);
        if (element.max_length) {
          const counter = el("span", "char-count");
          const update = () => { counter.textContent = control.value.length + " / " + element.max_length; };
          control.addEventListener("input", update);
          update();
          node.appendChild(counter);
        }
        break;
      }
      case "number_input": {
        control = el("input", "control");
        control.type = "text";
        control.inputMode = element.is_decimal_allowed ? "decimal" : "numeric";
        control.value = has ? kept[block.block_id] : (element.initial_value || "");
        if (element.placeholder) control.placeholder = plainText(element.placeholder);
        node.appendChild(control);
        break;
      }
      case "static_select":
      case "radio_buttons":
        if (element.type === "static_select") {
          control = el("select", "control");
          fillOptions(control, element, plainText(element.placeholder) || "Select an item");
          if (has) control.value = kept[block.block_id] || "";
          node.appendChild(control);
        } else {
          control = el("div", "options");
          for (const option of element.options || []) {
            const row = el("label", "option");
            const input = el("input");
            input.type = "radio";
            input.name = id;
            input.value = option.value;
            input.checked = has ? kept[block.block_id] === option.value : !!(element.initial_option && element.initial_option.value === option.value);
            row.appendChild(input);
            const text = el("span");
            text.appendChild(textObject(option.text));
            row.appendChild(text);
            control.appendChild(row);
          }
          node.appendChild(control);
        }
        break;
      case "checkboxes": {
        control = el("div", "options");
        const initial = (element.initial_options || []).map((o) => o.value);
        const chosen = has ? kept[block.block_id] : initial;
        for (const option of element.options || []) {
          const row = el("label", "option");
          const input = el("input");
          input.type = "checkbox";
          input.value = option.value;
          input.checked = chosen.indexOf(option.value) >= 0;
          row.appendChild(input);
          const text = el("span");
          text.appendChild(textObject(option.text));
          if (option.description) text.appendChild(textObject(option.description, "option-desc"));
          row.appendChild(text);
          control.appendChild(row);
        }
        node.appendChild(control);
        break;
      }
      default:
        control = el("div", "unsupported", "[" + element.type + " input is not supported by the dev page]");
        node.appendChild(control);
    }
    control.id = id;
    if (block.hint) node.appendChild(el("div", "input-hint", plainText(block.hint)));
    const error = el("div", "input-error");
    error.hidden = true;
    error.setAttribute("role", "alert");
    node.appendChild(error);
    return node;
  }

  function readInput(node) {
    const kind = node.dataset.kind;
    if (kind === "checkboxes") return Array.from(node.querySelectorAll("input[type=checkbox]")).filter((i) => i.checked).map((i) => i.value);
    if (kind === "radio_buttons") { const c = node.querySelector("input[type=radio]:checked"); return c ? c.value : null; }
    const control = node.querySelector(".control");
    if (!control) return undefined;
    return control.value;
  }

  function collectValues(modal) {
    const values = {};
    const problems = {};
    for (const node of modal.querySelectorAll(".input-block")) {
      const blockId = node.dataset.blockId;
      const kind = node.dataset.kind;
      let value = readInput(node);
      if (value === undefined) continue;
      const empty = value === null || value === "" || (Array.isArray(value) && value.length === 0);
      if (empty && node.dataset.optional !== "true") problems[blockId] = "Please complete this required field.";
      if (kind === "number_input" && !empty) {
        const decimal = node.querySelector(".control").inputMode === "decimal";
        if (!(decimal ? /^-?\d+(\.\d+)?$/ : /^-?\d+$/).test(value.trim())) problems[blockId] = decimal ? "Please enter a number." : "Please enter a whole number.";
        else value = value.trim();
      }
      // Slack sends null for an empty text input or an unpicked select, [] for no ticked boxes.
      values[blockId] = empty ? (Array.isArray(value) ? [] : null) : value;
    }
    return { values, problems };
  }

  function showErrors(modal, errors) {
    const known = new Set();
    for (const node of modal.querySelectorAll(".input-block")) {
      const message = errors[node.dataset.blockId];
      const box = node.querySelector(".input-error");
      node.classList.toggle("has-error", !!message);
      box.hidden = !message;
      box.textContent = message || "";
      known.add(node.dataset.blockId);
    }
    const general = modal.querySelector(".modal-error");
    const stray = Object.keys(errors).filter((k) => !known.has(k) && !k.startsWith("_"));
    const generalText = errors._general || (stray.length ? stray.map((k) => k + ": " + errors[k]).join("\n") : "");
    general.hidden = !generalText;
    general.textContent = generalText;
  }

  function keepValues(modal) {
    const viewId = modal.dataset.viewId;
    const kept = {};
    for (const node of modal.querySelectorAll(".input-block")) {
      const value = readInput(node);
      if (value !== undefined) kept[node.dataset.blockId] = value;
    }
    S.modalValues[viewId] = kept;
  }

  async function submitModal(modal, view) {
    const { values, problems } = collectValues(modal);
    if (Object.keys(problems).length) { showErrors(modal, problems); return; }
    const submit = modal.querySelector(".modal-submit");
    submit.disabled = true;
    submit.classList.add("busy");
    try {
      const answer = await post("/ui/submit", { user: S.user, view_id: view.id, values });
      if (answer.response_action === "errors") showErrors(modal, answer.errors || {});
      else if (!answer.ok) showErrors(modal, { _general: "We had some trouble connecting. Try again? (the bot answered HTTP " + answer.status + ")" });
    } catch (e) {
      showErrors(modal, { _general: e.message });
    } finally {
      submit.disabled = false;
      submit.classList.remove("busy");
    }
  }

  async function closeModal(view) {
    try { await post("/ui/close", { user: S.user, view_id: view.id }); } catch (e) { toast(e.message, "error"); }
  }

  function renderModal() {
    const root = $("modal-root");
    const stack = S.data.modals || [];
    const top = stack[stack.length - 1];
    if (!top) {
      if (S.modalKey) { clear(root); S.modalKey = null; }
      return;
    }
    const view = top.view;
    const key = S.user + "|" + view.id + "|" + view.hash;
    let modal = root.querySelector(".modal");
    if (S.modalKey !== key || !modal) {
      if (modal) keepValues(modal);
      if (S.modalKey && S.modalKey.split("|")[1] === view.id && S.modalKey !== key) delete S.modalValues[view.id]; // updated by the bot
      clear(root);
      S.modalKey = key;
      const backdrop = el("div", "modal-backdrop");
      modal = el("div", "modal");
      modal.setAttribute("role", "dialog");
      modal.setAttribute("aria-modal", "true");
      modal.dataset.viewId = view.id;
      modal.dataset.callbackId = view.callback_id || "";
      const header = el("div", "modal-header");
      header.appendChild(el("div", "avatar bot modal-app", "h"));
      header.appendChild(el("div", "modal-title", plainText(view.title)));
      if (stack.length > 1) header.appendChild(el("span", "modal-stack", stack.length + " open"));
      const x = el("button", "icon-button", "✕");
      x.type = "button";
      x.setAttribute("aria-label", "Close");
      x.addEventListener("click", () => closeModal(view));
      header.appendChild(x);
      modal.appendChild(header);
      const form = el("form", "modal-body");
      form.noValidate = true;
      const general = el("div", "modal-error");
      general.hidden = true;
      form.appendChild(general);
      const onAction = async (element, value, block) => {
        try {
          await post("/ui/view_action", { user: S.user, view_id: view.id, action_id: element.action_id, block_id: block.block_id, value: value === undefined ? null : value });
        } catch (e) { toast(e.message, "error"); }
      };
      const blocks = renderBlocks(view.blocks, { onAction, surface: "modal", view, kept: S.modalValues[view.id] || {} });
      blocks.classList.add("modal-blocks");
      form.appendChild(blocks);
      form.addEventListener("submit", (event) => { event.preventDefault(); if (view.submit) submitModal(modal, view); });
      form.addEventListener("input", () => keepValues(modal));
      form.addEventListener("change", () => keepValues(modal));
      modal.appendChild(form);
      const footer = el("div", "modal-footer");
      const cancel = el("button", "btn big modal-close", plainText(view.close) || (view.submit ? "Cancel" : "Close"));
      cancel.type = "button";
      cancel.addEventListener("click", () => closeModal(view));
      footer.appendChild(cancel);
      if (view.submit) {
        const submit = el("button", "btn big primary modal-submit", plainText(view.submit));
        submit.type = "button";
        if (view.submit_disabled) submit.disabled = true;
        submit.addEventListener("click", () => submitModal(modal, view));
        footer.appendChild(submit);
      }
      modal.appendChild(footer);
      backdrop.appendChild(modal);
      backdrop.addEventListener("keydown", (event) => { if (event.key === "Escape") closeModal(view); });
      root.appendChild(backdrop);
      const first = modal.querySelector(".control");
      if (first) first.focus();
    }
    showErrors(modal, top.errors || {});
  }

  // ---- the whole page ---------------------------------------------------------------------

  function render(options) {
    if (!S.data) return;
    if (!S.user) S.user = S.data.user.id;
    document.title = "hitl dev · " + (currentChannel() ? "#" + currentChannel().name : "HITL Emulator");
    $("workspace-name").textContent = S.data.team.name;
    $("workspace-sub").textContent = S.data.team.domain + " · loopback";
    renderUsers();
    renderClock();
    renderSidebar();
    renderChannel(options);
    renderThread();
    renderModal();
  }

  // ---- controls -------------------------------------------------------------------------------

  function parseDuration(text) {
    const source = String(text).trim().toLowerCase().replace(/\s+/g, "");
    if (/^\d+(\.\d+)?$/.test(source)) return parseFloat(source) * 60; // bare number: minutes
    const re = /(\d+(?:\.\d+)?)(d|h|m|s)/g;
    let total = 0, consumed = 0, m;
    while ((m = re.exec(source)) !== null) {
      total += parseFloat(m[1]) * { d: 86400, h: 3600, m: 60, s: 1 }[m[2]];
      consumed += m[0].length;
    }
    return consumed === source.length && total > 0 ? total : null;
  }

  let advancing = false;
  async function advance(seconds) {
    if (advancing) { toast("The clock is still moving; try again in a moment", "error"); return; }
    advancing = true;
    const buttons = document.querySelectorAll("[data-advance]");
    buttons.forEach((b) => { b.disabled = true; });
    $("clock").classList.add("busy");
    try {
      const answer = await post("/ui/clock", { seconds });
      toast("Clock advanced " + durationText(seconds) + " → " + fmtClock.format(new Date(answer.now_epoch * 1000)));
      refreshNow();
    } catch (e) {
      toast("Clock: " + e.message, "error");
    } finally {
      advancing = false;
      buttons.forEach((b) => { b.disabled = false; });
      $("clock").classList.remove("busy");
    }
  }

  async function runCommand(line) {
    const note = $("composer-note");
    note.textContent = "";
    const text = line.trim();
    if (!text) return false;
    if (!text.startsWith("/")) { note.textContent = "Only slash commands can be sent here: try /hitl help"; return false; }
    const command = text.split(/\s+/)[0];
    if (command !== "/hitl") { note.textContent = command + " is not a command in this workspace: try /hitl"; return false; }
    const channel = currentChannel();
    try {
      const answer = await post("/ui/command", { user: S.user, channel: channel.id, text: text.slice(command.length).trim() });
      if (!answer.ok) toast("/hitl failed: the bot answered HTTP " + answer.status, "error");
      return true;
    } catch (e) {
      toast(e.message, "error");
      return false;
    }
  }

  function wire() {
    $("user-select").addEventListener("change", (event) => {
      const modal = document.querySelector(".modal");
      if (modal) keepValues(modal);
      S.user = event.target.value;
      S.keys = {};
      S.modalKey = null;
      clear($("modal-root"));
      savePrefs();
      refreshNow();
    });
    $("thread-close").addEventListener("click", () => { S.thread = null; render(); });
    for (const button of document.querySelectorAll("[data-advance]")) {
      button.addEventListener("click", () => advance(parseFloat(button.dataset.advance)));
    }
    $("clock-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const seconds = parseDuration($("clock-input").value);
      if (!seconds) { toast("Advance by a duration like 90m, 1h30m or 2d", "error"); return; }
      $("clock-input").value = "";
      advance(seconds);
    });
    $("composer").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = $("command-input");
      if (await runCommand(input.value)) input.value = "";
    });
    for (const chip of document.querySelectorAll("[data-command]")) {
      chip.addEventListener("click", () => {
        const input = $("command-input");
        input.value = chip.dataset.command + " ";
        input.focus();
      });
    }
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && S.thread && !document.querySelector(".modal")) { S.thread = null; render(); }
    });
  }

  // Exposed for tests and the curious: the mrkdwn renderer and the raw state.
  window.hitlDev = { renderMrkdwn, formatSlackDate, state: () => S.data, refresh: refreshNow };

  wire();
  poll();
})();
