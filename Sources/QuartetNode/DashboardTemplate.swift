import Mustache

/// The dashboard's HTML as Mustache templates (swift-mustache), kept in the source rather than
/// as resource files: `quartet` stays one self-contained executable (a SwiftPM resource bundle
/// would have to travel beside it), and a template that does not parse fails the first test
/// that renders it. Every `{{value}}` is escaped by `HTMLText.escape` (the QUARTET_HTML content
/// type), which works by Unicode scalar where swift-mustache's own HTML escaping walks
/// Characters; only `{{{svg}}}`, escaped by `BarChart`, is inserted raw.
enum DashboardTemplate {
    struct ScalarHTML: MustacheContentType {
        func escapeText(_ text: String) -> String { HTMLText.escape(text) }
    }

    /// The parsed templates: the page (with its partials) and the sign-in page.
    static let library = makeLibrary(["page": pageSource, "chart": chartSource, "count": countSource, "signIn": signInSource], what: "the dashboard's")

    static func render(_ name: String, _ object: Any) -> String { render(library, name, object) }

    /// A library of `templates` (name → source), escaping with `ScalarHTML`; a template that
    /// does not parse stops the process at first use (and so the first test that renders it).
    static func makeLibrary(_ templates: [String: String], what: String) -> MustacheLibrary {
        MustacheContentTypes.register(ScalarHTML(), named: "QUARTET_HTML")
        var library = MustacheLibrary()
        do {
            for (name, source) in templates { try library.register(source, named: name) }
        } catch {
            preconditionFailure("\(what) templates do not parse: \(error)")
        }
        return library
    }

    static func render(_ library: MustacheLibrary, _ name: String, _ object: Any) -> String {
        guard let html = library.render(object, withTemplate: name) else { preconditionFailure("no template \(name)") }
        return html
    }

    /// The style sheet both pages share (inline: the CSP allows no other source).
    static let styles = #"""
        body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
        header{background:#1d3557;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}.sub{margin:4px 0 0;opacity:.85}
        main{padding:8px 24px}section{margin:16px 0}h2{font-size:16px;margin:0 0 8px}
        .badges{display:flex;flex-wrap:wrap;gap:10px}.badge{background:#fff;border-radius:6px;padding:8px 12px;min-width:190px;box-shadow:0 1px 2px #0002}
        .badge h3{margin:0 0 4px;font-size:15px}.badge p{margin:2px 0}
        .pill{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;background:#e9ecef}.ok,.fresh{background:#d8f3dc;color:#1b4332}
        .bad,.old{background:#ffd6d6;color:#7a0000}.stale{background:#fff3bf;color:#5c4400}.none{background:#e9ecef}
        table.matrix{border-collapse:separate;border-spacing:4px;width:100%}.matrix th{text-align:left;font-weight:600;vertical-align:top}
        .matrix td{background:#fff;padding:6px 8px;border-radius:4px;vertical-align:top;min-width:120px}
        .pid{display:inline-block;background:#1d3557;color:#fff;border-radius:3px;padding:0 5px;font-size:12px}
        .bar{height:6px;background:#eceff3;border-radius:3px;margin-top:4px}.bar div{height:6px;border-radius:3px}
        .small{font-size:12px;color:#383f43}.muted{color:#505a5f}.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
        .legend span,.keys span{margin-right:12px;font-size:12px}.legend i,.keys i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
        .charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:12px}
        figure.chart{background:#fff;margin:0;padding:8px 10px;border-radius:6px;box-shadow:0 1px 2px #0002}
        figcaption{font-size:13px;font-weight:600;margin-bottom:4px}svg{width:100%;height:auto}.ax{font-size:10px;fill:#555}.tg{font-size:10px;fill:#111}
        a{color:#1d4ed8}a:visited{color:#4c2c92}a:focus,button:focus,input:focus,select:focus,summary:focus{outline:3px solid #ffbf47;outline-offset:0;background:#ffbf47;color:#0b0c0c}
        header a{color:#fff;text-decoration:none}header a:visited{color:#fff}.skip{position:absolute;left:-9999px}.skip:focus{left:8px;top:8px;z-index:9;padding:6px}
        header nav{margin-top:6px}header nav a{margin-right:16px;text-decoration:underline}
        svg a:focus rect.col,svg a:hover rect.col{fill:#ffbf4733;stroke:#0b0c0c;stroke-width:3}
        ul.measures li a{display:inline-block;min-height:24px;line-height:24px}
        .alerts{padding-left:18px}footer{padding:12px 24px;color:#555;font-size:12px}code{font-size:12px}
        form{background:#fff;padding:16px;border-radius:6px;max-width:420px}input{width:100%;padding:6px;margin:6px 0}
        """#

    /// The dashboard: nations, the priorities × nations matrix, charts, agreements, aggregates, alerts.
    static let pageSource = #"""
        {{% CONTENT_TYPE: QUARTET_HTML }}<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width,initial-scale=1">
        <title>{{title}}</title><style>
        \#(styles)
        </style></head><body>
        <a class=skip href="#main">Skip to main content</a>
        <header><h1>UK occupational therapy workforce strategy</h1>
        <p class=sub>Combined strategy view at node <b>{{node}}</b> ({{role}}) · {{generatedAt}} · signed in as {{viewer}}</p>
        <nav aria-label="Service"><a href="/">Overview</a><a href="/search">Search</a><form method=post action="/logout" style="display:inline"><button type=submit>Sign out</button></form></nav></header>
        <main id=main>
        <section><h2>Nations</h2><div class=badges>
        {{#badges}}
        <div class="badge" style="border-top:4px solid {{colour}}"><h3><a href="{{href}}">{{name}}</a></h3>
        <p>{{counts}}</p>
        <p>{{#verified}}<span class="pill ok">✓ verified</span>{{/verified}}{{^verified}}<span class="pill bad">✗ not verified</span>{{/verified}} <span class="pill {{freshness}}">{{checkpointAge}}</span>{{#alertCount}} <span class="pill bad">{{alertCount}}</span>{{/alertCount}}</p>
        {{#checkpoint}}<p class=mono>{{checkpoint}}</p>{{/checkpoint}}
        <p class=small><span class="pill {{#witnessQuorum}}ok{{/witnessQuorum}}{{^witnessQuorum}}stale{{/witnessQuorum}}">{{witnessed}}</span></p>
        </div>
        {{/badges}}
        </div></section>
        <section><h2>Priorities × nations</h2><table class=matrix><thead><tr><th>UK workforce priority</th>{{#columns}}<th>{{.}}</th>{{/columns}}</tr></thead><tbody>
        {{#rows}}
        <tr><th><a href="{{href}}"><span class=pid>{{id}}</span> {{title}}</a></th>
        {{#cells}}<td class="cell {{colour}}" style="border-left:6px solid {{fill}}">{{#empty}}<span class=muted>no actions</span>{{/empty}}{{^empty}}<a href="{{href}}"><b>{{percent}}%</b> on track or done</a>{{#stale}} <span class="pill stale" title="{{stale}}">stale</span>{{/stale}}<br><span class=small>{{detail}}</span><div class=bar><div style="width:{{percent}}%;background:{{fill}}"></div></div>{{/empty}}</td>{{/cells}}
        </tr>
        {{/rows}}
        {{#empty(rows)}}<tr><td colspan={{columnCount}} class=muted>The UK plan has not reached this node yet.</td></tr>{{/empty(rows)}}
        </tbody></table><p class=legend>{{#legend}}<span><i style="background:{{colour}}"></i>{{name}}</span>{{/legend}}</p></section>
        <section><h2>UK measures with a target</h2><div class=charts>
        {{#targetedCharts}}{{> chart}}{{/targetedCharts}}
        {{#empty(targetedCharts)}}<p class=muted>No readings of a measure with a target yet.</p>{{/empty(targetedCharts)}}
        </div></section>
        <section><h2>UK measures</h2>
        {{#empty(sharedCharts)}}<p class=muted>No measure readings yet.</p>{{/empty(sharedCharts)}}
        {{^empty(sharedCharts)}}<ul class=measures>{{#sharedCharts}}<li><a href="{{href}}">{{title}}</a></li>{{/sharedCharts}}</ul>{{/empty(sharedCharts)}}
        </section>
        {{^empty(localCharts)}}<section><h2>Measures of one nation's own plan ({{localCount}})</h2>
        <ul class=measures>{{#localCharts}}<li><a href="{{href}}">{{title}}</a></li>{{/localCharts}}</ul></section>{{/empty(localCharts)}}
        <section><h2>Data-sharing agreements</h2>
        {{#empty(agreements)}}<p class=muted>No countersigned agreement on the ledger.</p>{{/empty(agreements)}}
        {{^empty(agreements)}}<table class=matrix><thead><tr><th>Agreement</th><th>Data owner</th><th>Holder</th><th>Data</th><th>Recipients</th><th>Valid</th><th>State</th><th>Disclosures</th></tr></thead><tbody>
        {{#agreements}}<tr><td class=mono>{{id}}</td><td>{{owner}}</td><td>{{holder}}</td><td class=mono>{{labels}}</td><td>{{recipients}}</td><td class=small>{{validFrom}} to {{validUntil}}</td><td><span class="pill {{pill}}">{{status}}</span></td><td class=small><a href="{{ownerHref}}">{{owner}}'s audit page</a> (for its auditors)</td></tr>
        {{/agreements}}</tbody></table>{{/empty(agreements)}}
        {{#ignoredAgreements}}<p class="pill bad">{{ignoredAgreements}}</p>{{/ignoredAgreements}}
        <p class=small>Restricted data reaches a node only where an agreement in force gives it full access; elsewhere the entries are stubs. Disclosure records are in each sender's log; auditors read them at <code>/v1/agreements/{id}/disclosures</code>.</p></section>
        {{^empty(aggregates)}}<section><h2>Published aggregates (restricted data, small counts suppressed)</h2><div class=charts>
        {{#aggregates}}<figure class=chart><figcaption>{{caption}}</figcaption>
        <table class=matrix><thead><tr><th></th>{{#columns}}<th>{{.}}</th>{{/columns}}<th>total</th></tr></thead><tbody>
        {{#rows}}<tr><th>{{label}}</th>{{#cells}}<td>{{> count}}</td>{{/cells}}<td><b>{{#total}}{{> count}}{{/total}}</b></td></tr>
        {{/rows}}</tbody></table><p class=small>* hidden: {{hidden}} (counts below {{minimum}}, zero included, or whose rounded value would give them away); other counts rounded to a multiple of {{rounding}}; totals are sums of the published cells · figure <code>{{figure}}</code></p></figure>
        {{/aggregates}}
        </div></section>{{/empty(aggregates)}}
        <section><h2>Alerts</h2>
        {{#empty(alerts)}}<p class=muted>No replication alerts since this node started.</p>{{/empty(alerts)}}
        {{^empty(alerts)}}<ul class=alerts>{{#alerts}}<li><span class=mono>{{time}}</span> <b>{{kind}}</b> {{message}}</li>{{/alerts}}</ul>{{/empty(alerts)}}
        </section></main><footer>Every figure traces to signed ledger entries: <code>GET /v1/view/figures/{id}/provenance</code> · JSON at <code>/v1/view</code> · CSV with <code>?format=csv</code></footer></body></html>

        """#

    /// One chart (a partial of the page).
    static let chartSource = #"""
        {{% CONTENT_TYPE: QUARTET_HTML }}<figure class=chart><figcaption>{{#href}}<a href="{{href}}">{{title}}</a>{{/href}}{{^href}}{{title}}{{/href}}</figcaption>{{{svg}}}{{#total}}<p class=small>{{label}} {{period}}: <b>{{value}}</b>{{target}}{{detail}} · <a href="{{figureHref}}">How do we know?</a></p>{{/total}}{{#note}}<p class=small>{{note}}</p>{{/note}}{{#textOnly}}<p class=muted>Readings of this measure are text or categories; see <code>{{textOnly}}</code>.</p>{{/textOnly}}</figure>
        """#

    /// One count of an aggregate, or * when suppressed.
    static let countSource = #"""
        {{% CONTENT_TYPE: QUARTET_HTML }}{{#value}}{{value}}{{/value}}{{^value}}<span title=suppressed>*</span>{{/value}}
        """#

    /// The page a browser without credentials sees.
    static let signInSource = #"""
        {{% CONTENT_TYPE: QUARTET_HTML }}<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width,initial-scale=1">
        <title>{{title}}</title><style>
        \#(styles)
        </style></head><body>
        <header><h1>Quartet</h1><p class=sub>Sign in at node <b>{{node}}</b></p></header><main>
        {{#message}}<p class="pill bad">{{message}}</p>{{/message}}
        {{#link}}<form method=post action="/login"><p>Sign in at node <b>{{node}}</b> as <b>{{who}}</b>, with the token in the link you opened?</p>{{#current}}<p class="pill bad">This browser is signed in at this node as <b>{{current}}</b>: signing in with the link ends that session. If you did not expect this link, leave this page.</p>{{/current}}<input type=hidden name=token value="{{token}}"><button type=submit>Sign in</button></form>{{/link}}
        {{^link}}<form method=post action="/login"><label>A token issued for node {{node}}<input name=token type=password autocomplete=off required pattern="{{pattern}}" title="a token of node {{node}} (qt_{{node}}_… or qt_ and 43 characters): a token of another node is not sent here"></label><button type=submit>Sign in</button></form>
        <p class=small>A token is a password for the node that issued it: never enter one issued for another node here (this node would then hold it; have such a token replaced). Or present a client certificate issued by the federation CA.</p>{{/link}}</main></body></html>

        """#
}
