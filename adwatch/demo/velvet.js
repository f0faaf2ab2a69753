// Velvet, the JavaScript classifieds of the adwatch demo world (served as /v/app.js).
// Everything an ad says is written by a stranger: it only ever reaches the page through
// textContent, setAttribute on a checked URL, or text nodes. Never markup APIs.
(function () {
  'use strict';

  var PAGE_SIZE = 20;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // -- listing (/v/): JSON batches, infinite scroll and a "load more" button ----------------

  function card(ad) {
    var article = el('article', 'card');
    var link = el('a', 'card-link', ad.title);
    link.setAttribute('href', '/v/ad/' + ad.id);
    article.appendChild(link);
    article.appendChild(el('span', 'town', ad.town));
    return article;
  }

  function initListing(list) {
    var more = document.getElementById('load-more');
    var end = document.querySelector('p.end');
    var sentinel = document.getElementById('sentinel');
    var next = 0;
    var busy = false;
    var pending = false; // "Visa fler" pressed while a batch was loading: load once more after it
    var done = false;
    var observer = null;

    function finish() {
      done = true;
      if (more) more.hidden = true;
      if (end) end.hidden = false;
      if (observer) observer.disconnect();
    }

    function sentinelInView() {
      if (!sentinel) return false;
      var box = sentinel.getBoundingClientRect();
      return box.top < window.innerHeight + 200;
    }

    // One request at a time. A press that comes while a batch loads is kept for after it;
    // scroll triggers are not (after each batch the end of the list is looked at again).
    function loadNext(pressed) {
      if (done) return;
      if (busy) { if (pressed === true) pending = true; return; }
      busy = true;
      pending = false;
      fetch('/v/api/ads?offset=' + next + '&limit=' + PAGE_SIZE, {headers: {Accept: 'application/json'}})
        .then(function (resp) {
          if (!resp.ok) throw new Error('HTTP ' + resp.status);
          return resp.json();
        })
        .then(function (data) {
          var ads = Array.isArray(data.ads) ? data.ads : [];
          for (var i = 0; i < ads.length; i++) {
            if (ads[i] && Number.isInteger(ads[i].id)) list.appendChild(card(ads[i]));
          }
          if (Number.isInteger(data.next)) next = data.next; else finish();
          delete document.body.dataset.error;
        })
        .catch(function (err) {
          document.body.dataset.error = String(err); // the next trigger tries the same batch again
        })
        .then(function () {
          busy = false;
          document.body.dataset.loaded = String(list.querySelectorAll('article.card').length);
          // Like real infinite scroll: keep filling while the end of the list is on screen.
          if (!done && (pending || sentinelInView())) loadNext();
        });
    }

    if (more) more.addEventListener('click', function () { loadNext(true); });
    if (sentinel && 'IntersectionObserver' in window) {
      observer = new IntersectionObserver(function (entries) {
        for (var i = 0; i < entries.length; i++) if (entries[i].isIntersecting) loadNext();
      }, {rootMargin: '200px'});
      observer.observe(sentinel);
    }
    window.addEventListener('scroll', function () {
      var bottom = window.scrollY + window.innerHeight;
      if (bottom >= document.documentElement.scrollHeight - 300) loadNext();
    }, {passive: true});
    loadNext();
  }

  // -- detail (/v/ad/<id>): JSON, then the number behind a button (XHR) ---------------------

  function shownDate(iso) {
    // "2026-11-27T21:14:00+01:00" -> "2026-11-27 21:14"; junk stays as it came (as text).
    var m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(String(iso));
    return m ? m[1] + ' ' + m[2] : String(iso);
  }

  function body(text) {
    var div = el('div', 'body');
    var paras = String(text || '').split(/\n[ \t]*\n/);
    for (var i = 0; i < paras.length; i++) {
      if (paras[i].trim() !== '') div.appendChild(el('p', null, paras[i]));
    }
    return div;
  }

  function photos(urls) {
    var div = el('div', 'photos');
    if (!Array.isArray(urls)) return div;
    for (var i = 0; i < urls.length; i++) {
      var url = String(urls[i]);
      if (url.indexOf('/v/img/') !== 0) continue; // only the site's own images
      var img = el('img');
      img.setAttribute('src', url);
      img.setAttribute('alt', 'Bild ' + (i + 1));
      div.appendChild(img);
    }
    return div;
  }

  function revealButton(id) {
    var box = el('div', 'contact');
    var button = el('button', 'show-number', 'Visa nummer');
    button.setAttribute('type', 'button');
    var phone = el('span', 'phone');
    phone.hidden = true;
    button.addEventListener('click', function () {
      button.disabled = true;
      var xhr = new XMLHttpRequest();
      xhr.open('GET', '/v/api/ad/' + id + '/phone');
      xhr.responseType = 'json';
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.onload = function () {
        var data = xhr.response;
        if (xhr.status === 200 && data && typeof data.phone === 'string') {
          phone.textContent = data.phone;
          phone.hidden = false;
          button.remove();
        } else {
          button.disabled = false;
        }
      };
      xhr.onerror = function () { button.disabled = false; };
      xhr.send();
    });
    box.appendChild(button);
    box.appendChild(phone);
    return box;
  }

  function renderAd(root, id, ad) {
    var article = el('article', 'ad');
    article.appendChild(el('h1', 'title', ad.title));
    var meta = el('p', 'meta');
    var time = el('time', 'posted', shownDate(ad.posted));
    time.setAttribute('datetime', String(ad.posted));
    var parts = [time, el('span', 'town', ad.town), el('span', 'poster', ad.poster)];
    if (Number.isInteger(ad.age)) parts.push(el('span', 'age', ad.age + ' år'));
    if (ad.price) parts.push(el('span', 'price', ad.price));
    for (var i = 0; i < parts.length; i++) {
      if (i > 0) meta.appendChild(document.createTextNode(' · ')); // readable as plain text too
      meta.appendChild(parts[i]);
    }
    article.appendChild(meta);
    article.appendChild(body(ad.text));
    article.appendChild(photos(ad.images));
    if (ad.has_phone === true) article.appendChild(revealButton(id));
    root.appendChild(article);
    document.title = String(ad.title) + ' | Velvet';
  }

  function initDetail(root) {
    var m = /^\/v\/ad\/(\d+)$/.exec(window.location.pathname);
    if (!m) return;
    var id = m[1];
    fetch('/v/api/ad/' + id, {headers: {Accept: 'application/json'}})
      .then(function (resp) {
        if (!resp.ok) throw new Error('HTTP ' + resp.status);
        return resp.json();
      })
      .then(function (ad) { renderAd(root, id, ad); })
      .catch(function (err) {
        document.body.dataset.error = String(err);
        root.appendChild(el('p', 'error', 'Annonsen kunde inte visas.'));
      });
  }

  var list = document.getElementById('ads');
  var ad = document.getElementById('ad');
  if (list) initListing(list);
  else if (ad) initDetail(ad);
})();
