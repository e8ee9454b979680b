import Mustache

/// The web interface's pages (docs/web.md) as Mustache templates, in the source as the
/// dashboard's are (one self-contained executable). Every `{{value}}` is escaped by scalar
/// (`HTMLText.escape`, the QUARTET_HTML content type); only `{{{svg}}}` (escaped by `BarChart`)
/// and `{{{data}}}` (JSON made safe for a script element by `WebPage.scriptJSON`) go in raw.
/// Conventions of UK public-sector services: a header with the service name, breadcrumbs, one
/// `h1` per page, summary lists, status tags, tables with captions and header cells.
enum WebTemplate {
    static let library = DashboardTemplate.makeLibrary([
        "top": top, "bottom": bottom, "priority": priority, "nation": nation, "action": action, "measure": measure,
        "figure": figure, "search": search, "form": form, "status": status, "owner": owner,
    ], what: "the web interface's")

    static func render(_ name: String, _ object: Any) -> String { DashboardTemplate.render(library, name, object) }

    /// Styles beyond the dashboard's: layout, breadcrumbs, summary lists, tags, tables, focus.
    static let styles = DashboardTemplate.styles + #"""
        .breadcrumbs{list-style:none;margin:12px 0 0;padding:0;font-size:13px}.breadcrumbs li{display:inline}.breadcrumbs li+li::before{content:" › ";color:#505a5f}
        h1{font-size:24px;margin:12px 0}main{max-width:1100px}
        dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;background:#fff;padding:12px;border-radius:6px}dl.summary dt{font-weight:600}dl.summary dd{margin:0}
        table.data{border-collapse:collapse;background:#fff;width:100%;margin:8px 0}table.data caption{text-align:left;font-weight:600;padding:6px 0;font-size:15px}
        table.data th,table.data td{border-bottom:1px solid #b1b4b6;padding:6px 8px;text-align:left;vertical-align:top}table.data th{background:#f3f2f1}
        .tag{display:inline-block;padding:1px 8px;font-weight:600;font-size:12px;border-radius:2px;background:#e9ecef;color:#0b0c0c}
        .tag-green{background:#cce2d8;color:#005a30}.tag-red{background:#f6d7d2;color:#942514}.tag-amber{background:#fff7bf;color:#594d00}.tag-blue{background:#d2e2f1;color:#144e81}.tag-grey{background:#e9ecef;color:#383f43}
        ol.timeline{list-style:none;padding:0;border-left:3px solid #b1b4b6;margin-left:6px}ol.timeline li{padding:0 0 12px 14px}
        .verify-ok{background:#cce2d8;color:#005a30;padding:8px;font-weight:600}.verify-failed{background:#f6d7d2;color:#942514;padding:8px;font-weight:600}
        .howknow{font-size:12px}dl.summary a,table.data a,nav[aria-label=Years] a,form~p a{display:inline-block;min-height:24px;line-height:24px}
        form .field{margin:0 0 16px}form label{display:block;font-weight:600}.hint{color:#505a5f;margin:2px 0}form select,form textarea{width:100%;max-width:640px;padding:6px;font:inherit}
        .field-error{border-left:4px solid #d4351c;padding-left:10px}.error-message{color:#d4351c;font-weight:600;margin:2px 0}.error-summary{border:4px solid #d4351c;padding:12px;background:#fff;margin:12px 0}
        .receipt{border:4px solid #00703c;padding:12px;background:#fff;margin:12px 0}.visually-hidden{position:absolute;left:-9999px}
        button{font:inherit;padding:6px 14px;background:#00703c;color:#fff;border:0;border-radius:2px;box-shadow:0 2px 0 #002d18;min-height:32px}
        """#

    static let top = #"""
        {{% CONTENT_TYPE: QUARTET_HTML }}<!doctype html><html lang=en-GB><head><meta charset=utf-8><meta name=viewport content="width=device-width,initial-scale=1">
        <title>{{title}} — Quartet</title><style>
        \#(styles)
        </style></head><body>
        <a class=skip href="#main">Skip to main content</a>
        <header><p style="margin:0;font-size:20px;font-weight:700"><a href="/">UK occupational therapy workforce strategy</a></p>
        <p class=sub>Node <b>{{node}}</b> · signed in as {{viewer}}</p>
        <nav aria-label="Service"><a href="/">Overview</a><a href="/search">Search</a><form method=post action="/logout" style="display:inline"><button type=submit>Sign out</button></form></nav></header>
        <main id=main>
        <nav aria-label="Breadcrumb"><ol class=breadcrumbs>{{#breadcrumbs}}<li>{{#href}}<a href="{{href}}">{{name}}</a>{{/href}}{{^href}}<span aria-current=page>{{name}}</span>{{/href}}</li>{{/breadcrumbs}}</ol></nav>
        """#

    static let bottom = #"""
        {{% CONTENT_TYPE: QUARTET_HTML }}</main><footer>Every figure traces to signed ledger entries: follow “How do we know?”. JSON at <code>/v1/view</code>.</footer>
        {{#script}}<script src="/assets/verify.js"></script>{{/script}}</body></html>
        """#

    static let priority = #"""
        {{% CONTENT_TYPE: QUARTET_HTML }}{{> top}}{{#body}}
        <h1>{{heading}}</h1>
        {{^empty(goals)}}<ul>{{#goals}}<li>{{.}}</li>{{/goals}}</ul>{{/empty(goals)}}
        <p class=howknow><a href="{{figureHref}}">How do we know? The entry that defines this priority, verified in your browser</a></p>
        {{^empty(ukActions)}}<table class=data id=uk-plan><caption>The UK plan's actions and the nations' actions that serve them</caption>
        <thead><tr><th scope=col>UK action</th><th scope=col>Title</th><th scope=col>UK status</th><th scope=col>Nations' actions</th></tr></thead><tbody>
        {{#ukActions}}<tr><td><a href="{{href}}">{{id}}</a></td><td>{{title}}</td><td><span class="tag tag-{{tag}}">{{status}}</span></td><td>{{#served}}<a href="{{href}}">{{name}}</a> {{/served}}{{^served}}none yet{{/served}}{{#more}}{{more}}{{/more}}</td></tr>{{/ukActions}}
        </tbody></table>{{/empty(ukActions)}}
        {{#nations}}
        <table class=data id="nation-{{log}}"><caption>{{name}}: {{summary}}</caption>
        <thead><tr><th scope=col>Action</th><th scope=col>Title</th><th scope=col>Status</th><th scope=col>As of</th></tr></thead><tbody>
        {{#actions}}<tr><td><a href="{{href}}">{{id}}</a></td><td>{{title}}</td><td><span class="tag tag-{{tag}}">{{status}}</span></td><td>{{asOf}}</td></tr>{{/actions}}
        {{^actions}}<tr><td colspan=4>No actions under this priority.</td></tr>{{/actions}}
        </tbody></table>
        {{/nations}}
        {{/body}}{{> bottom}}
        """#

    static let nation = #"""
        {{% CONTENT_TYPE: QUARTET_HTML }}{{> top}}{{#body}}
        <h1>{{heading}}</h1>
        {{#canRecord}}<p>Record progress: <a href="/record/status">a status update</a> · <a href="/record/reading">a reading</a> · <a href="/record/evidence">evidence</a> · <a href="/status">Node status</a></p>{{/canRecord}}
        <dl class=summary>
        <dt>Entries</dt><dd>{{entries}}</dd>
        <dt>Actions</dt><dd>{{actions}}</dd>
        <dt>Measures</dt><dd>{{measures}}</dd>
        <dt>Log</dt><dd>{{#verified}}<span class="tag tag-green">verified</span>{{/verified}}{{^verified}}<span class="tag tag-red">not verified</span>{{/verified}}</dd>
        <dt>Latest checkpoint</dt><dd>{{checkpoint}}</dd>
        <dt>Freshness</dt><dd><span class="tag tag-{{freshnessTag}}">{{freshness}}</span></dd>
        </dl>
        <table class=data><caption>Actions of {{name}}'s plan</caption>
        <thead><tr><th scope=col>Action</th><th scope=col>Title</th><th scope=col>Priority</th><th scope=col>Status</th><th scope=col>As of</th><th scope=col>Measures</th></tr></thead><tbody>
        {{#rows}}<tr><td><a href="{{href}}">{{id}}</a></td><td>{{title}}</td><td><a href="{{priorityHref}}">{{priority}}</a></td><td><span class="tag tag-{{tag}}">{{status}}</span></td><td>{{asOf}}</td><td>{{measures}}</td></tr>{{/rows}}
        {{^rows}}<tr><td colspan=6>No actions in this log yet.</td></tr>{{/rows}}
        </tbody></table>
        <h2>Alerts about this log</h2>
        {{^empty(alerts)}}<ul>{{#alerts}}<li>{{.}}</li>{{/alerts}}</ul>{{/empty(alerts)}}{{^alerts}}<p>None.</p>{{/alerts}}
        {{/body}}{{> bottom}}
        """#

    static let action = #"""
        {{% CONTENT_TYPE: QUARTET_HTML }}{{> top}}{{#body}}
        <h1>{{heading}}</h1>
        <dl class=summary>
        <dt>Nation</dt><dd><a href="{{nationHref}}">{{nation}}</a></dd>
        <dt>Priority</dt><dd><a href="{{priorityHref}}">{{priority}}</a></dd>
        {{#ukActions}}<dt>UK actions</dt><dd>{{ukActions}}</dd>{{/ukActions}}
        {{#timeframe}}<dt>Timeframe</dt><dd>{{timeframe}}</dd>{{/timeframe}}
        <dt>Status</dt><dd><span class="tag tag-{{tag}}">{{status}}</span> {{#asOf}}as of {{asOf}}{{/asOf}}</dd>
        {{#withdrawn}}<dt>Withdrawn</dt><dd>{{withdrawn}}</dd>{{/withdrawn}}
        </dl>
        <p class=howknow><a href="{{figureHref}}">How do we know? The entries behind this action and its status, verified in your browser</a></p>
        {{^empty(mapped)}}<table class=data><caption>The nations' actions mapped to this UK action</caption>
        <thead><tr><th scope=col>Nation</th><th scope=col>Action</th><th scope=col>Title</th><th scope=col>Status</th></tr></thead><tbody>
        {{#mapped}}<tr><td>{{nation}}</td><td><a href="{{href}}">{{id}}</a></td><td>{{title}}</td><td><span class="tag tag-{{tag}}">{{status}}</span></td></tr>{{/mapped}}
        </tbody></table>{{#moreMapped}}<p>{{moreMapped}}</p>{{/moreMapped}}{{/empty(mapped)}}
        <h2>Status history</h2>
        {{^empty(history)}}<ol class=timeline>{{#history}}<li><span class="tag tag-{{tag}}">{{status}}</span> as of {{asOf}} — recorded {{time}} by {{author}} (entry {{entry}}){{#note}}<br>{{note}}{{/note}}</li>{{/history}}</ol>{{/empty(history)}}
        {{^history}}<p>No status recorded yet.</p>{{/history}}
        <h2>Evidence</h2>
        {{^empty(evidence)}}<ul>{{#evidence}}<li>{{kind}}: {{title}} <span class=mono>{{link}}</span></li>{{/evidence}}</ul>{{/empty(evidence)}}
        {{^evidence}}<p>No evidence recorded.</p>{{/evidence}}
        <table class=data><caption>Measures of this action</caption>
        <thead><tr><th scope=col>Measure</th><th scope=col>What it measures</th><th scope=col>Latest</th><th scope=col>Target</th></tr></thead><tbody>
        {{#measures}}<tr><td><a href="{{href}}">{{id}}</a></td><td>{{text}}</td><td>{{latest}}</td><td>{{target}}</td></tr>{{/measures}}
        {{^measures}}<tr><td colspan=4>No measures.</td></tr>{{/measures}}
        </tbody></table>
        {{/body}}{{> bottom}}
        """#

    static let measure = #"""
        {{% CONTENT_TYPE: QUARTET_HTML }}{{> top}}{{#body}}
        <h1>{{heading}}</h1>
        {{#definitions}}<dl class=summary><dt>{{nation}}</dt><dd>{{text}}{{#unit}} ({{unit}}){{/unit}}</dd>{{#target}}<dt>Target</dt><dd>{{target}}</dd>{{/target}}{{#overTime}}<dt>Over time</dt><dd>{{overTime}}</dd>{{/overTime}}</dl>{{/definitions}}
        {{#svg}}<figure class=chart aria-labelledby=chart-caption><figcaption id=chart-caption>{{chartTitle}} (the table below has the same data)</figcaption>{{{svg}}}</figure>{{/svg}}
        {{^empty(totals)}}<table class=data><caption>UK totals</caption>
        <thead><tr><th scope=col>Period</th><th scope=col>Total</th><th scope=col>Target</th><th scope=col>From</th><th scope=col>Entries</th><th scope=col>Provenance</th></tr></thead><tbody>
        {{#totals}}<tr><td>{{period}}</td><td>{{value}}</td><td>{{target}}</td><td>{{parts}}</td><td>{{entries}}</td><td><a href="{{href}}">How do we know?</a></td></tr>{{/totals}}
        </tbody></table>{{/empty(totals)}}
        {{^empty(years)}}<nav aria-label="Years"><p>Year: {{#years}}{{#current}}<b aria-current=page>{{year}}</b> {{/current}}{{^current}}<a href="{{href}}">{{year}}</a> {{/current}}{{/years}}</p></nav>{{/empty(years)}}
        <table class=data id=readings><caption>Readings per period per nation{{#year}}, {{year}}{{/year}}</caption>
        <thead><tr><th scope=col>Period</th><th scope=col>Nation</th><th scope=col>Measure</th><th scope=col>Reading</th><th scope=col>Note</th><th scope=col>Corrections</th><th scope=col>Provenance</th></tr></thead><tbody>
        {{#readings}}<tr><td>{{period}}</td><td>{{nation}}</td><td>{{measure}}</td><td>{{value}}</td><td>{{note}}</td><td>{{^empty(corrections)}}<ul>{{#corrections}}<li>{{.}}</li>{{/corrections}}</ul>{{/empty(corrections)}}{{^corrections}}none{{/corrections}}</td><td><a href="{{href}}">How do we know?</a></td></tr>{{/readings}}
        {{^readings}}<tr><td colspan=7>No readings yet.</td></tr>{{/readings}}
        </tbody></table>
        <p><a href="{{csvHref}}" download>Download every reading of this measure (all years) as CSV</a></p>
        {{/body}}{{> bottom}}
        """#

    static let figure = #"""
        {{% CONTENT_TYPE: QUARTET_HTML }}{{> top}}{{#body}}
        <h1>How do we know? <span class=mono>{{figure}}</span></h1>
        <p>This figure rests on the {{count}} ledger entries below. Your browser checks each one itself: the checkpoint's Ed25519 signature against the log's key, its witnesses' cosignatures, each entry's header and payload against its leaf, and each inclusion proof (RFC 9162) up to the signed root; then it recomputes the figure from the verified entries. The keys and the quorum come from this node unless you choose a policy file of your own below. What these checks cannot see is an entry left out: a node could leave out a nation's reading or a later correction and state the figure the rest give, since inclusion proofs show what is in a log, not what is not. "Check the whole logs" below rules that out (with your policy file, for a UK total, every log your file names).</p>
        {{#omitted}}<p class=verify-failed><strong>{{omitted}} of this figure's entries are not on this page</strong> (one answer holds at most 1,000 entries and 4 MiB of payloads): this figure cannot be checked whole here.</p>{{/omitted}}
        <p id=figure-check role=status>{{#stated}}This node states the figure is <span class=mono>{{stated}}</span>; checking it in this browser…{{/stated}}</p>
        <p id=verify-summary role=status aria-live=polite>Checking in this browser… (needs JavaScript; without it, the same data is at <code>/v1/view/figures/{{figure}}/provenance</code> for any verifier, such as Go's sumdb/note and sumdb/tlog)</p>
        <p><button type=button id=verify-again hidden>Check again</button></p>
        <p hidden><button type=button id=check-whole>Check the whole logs</button> reads every entry of these logs up to their checkpoints from this node and checks them all against the signed roots, then recomputes the figure from them: nothing can then have been left out of these logs.</p>
        <p id=whole-check role=status></p>
        <p hidden><label for=verify-policy>Check against a policy file you hold (C2SP tlog-policy, e.g. written by <code>quartet policy</code>): the log keys, witness keys and quorum then come from your file, not from this node — though the script that checks them is this node's; for a check that trusts no node at all, save <code>/v1/view/figures/{{figure}}/provenance</code> and run <code>quartet verify-figure</code> with the same file</label> <input type=file id=verify-policy accept=".txt,.policy,text/plain"></p>
        <table class=data><caption>Signed checkpoints</caption>
        <thead><tr><th scope=col>Log</th><th scope=col>Size</th><th scope=col>Root</th><th scope=col>Verifier key</th><th scope=col>Witnessed by (checked by this node)</th><th scope=col>Signature</th></tr></thead><tbody>
        {{#checkpoints}}<tr><td>{{log}}</td><td>{{size}}</td><td class=mono>{{root}}</td><td class=mono>{{vkey}}{{#rotated}}<br>(a rotated key; the federation file pins {{pinned}}){{/rotated}}</td><td>{{witnessed}}{{^quorum}} <strong>— not a quorum</strong>{{/quorum}}</td><td><span class=tag data-checkpoint-row="{{position}}">not checked</span></td></tr>{{/checkpoints}}
        </tbody></table>
        <table class=data><caption>Entries</caption>
        <thead><tr><th scope=col>Log</th><th scope=col>Index</th><th scope=col>Type</th><th scope=col>Recorded</th><th scope=col>By</th><th scope=col>Content</th><th scope=col>Check</th></tr></thead><tbody>
        {{#entries}}<tr data-row="{{position}}"><td>{{log}}</td><td>{{index}}</td><td data-field=type>{{type}}</td><td data-field=time>{{time}}</td><td data-field=author>{{author}}</td><td class=mono data-field=content>{{content}}</td><td><span class=tag data-entry="{{position}}">not checked</span></td></tr>{{/entries}}
        </tbody></table>
        <script type="application/json" id=provenance-data>{{{data}}}</script>
        {{/body}}{{> bottom}}
        """#

    static let form = #"""
        {{% CONTENT_TYPE: QUARTET_HTML }}{{> top}}{{#body}}
        <h1>{{heading}}</h1>
        {{#receipt}}<div class=receipt role=status><h2>Saved in the log</h2><dl class=summary><dt>Entry</dt><dd>{{entry}}</dd><dt>Index</dt><dd>{{index}}</dd><dt>Latest checkpoint (it includes the entry)</dt><dd class=mono>{{checkpoint}}</dd></dl>
        {{#aggregatorHref}}<p><a href="{{aggregatorHref}}">See it at the UK aggregator</a> (it arrives within seconds)</p>{{/aggregatorHref}}</div>{{/receipt}}
        {{#summaryError}}<div class=error-summary role=alert tabindex=-1><h2>There is a problem</h2><p>{{summaryError}}</p></div>{{/summaryError}}
        <form method=post action="{{action}}" novalidate>
        {{#fields}}<div class="field{{#error}} field-error{{/error}}"><label for="f-{{name}}">{{label}}</label>
        {{#hint}}<p class=hint id="h-{{name}}">{{hint}}</p>{{/hint}}{{#error}}<p class=error-message id="e-{{name}}"><span class=visually-hidden>Error:</span> {{error}}</p>{{/error}}
        {{#isSelect}}<select id="f-{{name}}" name="{{name}}"{{#describedBy}} aria-describedby="{{describedBy}}"{{/describedBy}}>{{#options}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/options}}</select>{{/isSelect}}
        {{^isSelect}}{{#textarea}}<textarea id="f-{{name}}" name="{{name}}" rows=3{{#describedBy}} aria-describedby="{{describedBy}}"{{/describedBy}}>{{value}}</textarea>{{/textarea}}{{^textarea}}<input id="f-{{name}}" name="{{name}}" type="{{type}}" value="{{value}}"{{#describedBy}} aria-describedby="{{describedBy}}"{{/describedBy}}>{{/textarea}}{{/isSelect}}
        </div>{{/fields}}
        <button type=submit>Save</button></form>
        <p>{{#others}}<a href="{{href}}">{{name}}</a> · {{/others}}</p>
        {{/body}}{{> bottom}}
        """#

    static let status = #"""
        {{% CONTENT_TYPE: QUARTET_HTML }}{{> top}}{{#body}}
        <h1>Node status</h1>
        <dl class=summary><dt>Federation file</dt><dd>{{federation}}</dd><dt>TLS certificate expires</dt><dd><span class="tag tag-{{certificateTag}}">{{certificate}}</span></dd><dt>Its CA expires</dt><dd><span class="tag tag-{{caTag}}">{{ca}}</span></dd></dl>
        <table class=data><caption>Peers</caption><thead><tr><th scope=col>Node</th><th scope=col>Role</th><th scope=col>Address</th><th scope=col>Connection</th><th scope=col>Since</th><th scope=col>Protocol</th></tr></thead><tbody>
        {{#peers}}<tr><td>{{id}}</td><td>{{role}}</td><td class=mono>{{address}}</td><td>{{#connected}}<span class="tag tag-green">connected</span>{{/connected}}{{^connected}}<span class="tag tag-red">not connected</span>{{/connected}}</td><td>{{since}}</td><td>{{version}}</td></tr>{{/peers}}
        </tbody></table>
        <table class=data><caption>Logs held here</caption><thead><tr><th scope=col>Log</th><th scope=col>Entries</th><th scope=col>Behind what was seen</th><th scope=col>Checkpoint age</th><th scope=col>Peers behind this node</th><th scope=col>State</th></tr></thead><tbody>
        {{#logs}}<tr><td>{{name}}{{#own}} (own){{/own}}</td><td>{{held}}</td><td>{{behind}}</td><td>{{age}}</td><td>{{peersBehind}}</td><td>{{#quarantined}}<span class="tag tag-red">quarantined</span>{{/quarantined}}{{#disowned}}<span class="tag tag-red">disowned: recover it</span>{{/disowned}}{{#verified}}<span class="tag tag-green">verified</span>{{/verified}}</td></tr>{{/logs}}
        </tbody></table>
        <h2>Alerts (evidence first, then newest; one line per kind and peer)</h2>
        {{^empty(alerts)}}<ul>{{#alerts}}<li>{{.}}</li>{{/alerts}}</ul>{{/empty(alerts)}}{{#empty(alerts)}}<p>None since this node started.</p>{{/empty(alerts)}}
        {{/body}}{{> bottom}}
        """#

    static let owner = #"""
        {{% CONTENT_TYPE: QUARTET_HTML }}{{> top}}{{#body}}
        <h1>Data owner {{owner}}: where its data went</h1>
        <p>Every disclosure of this owner's data and every purge, as the holders and recipients recorded them in their logs. <a href="{{csvHref}}" download>Download as CSV</a></p>
        {{#hidden}}<p>{{hidden}} more agreement(s) of this owner are held by another node's log: their records are for that log's operator and the owner's auditors.</p>{{/hidden}}
        {{#agreements}}
        <h2>Agreement {{id}} <span class="tag tag-{{tag}}">{{status}}</span></h2>
        <dl class=summary><dt>Holder</dt><dd>{{holder}}</dd><dt>Recipients</dt><dd>{{recipients}}</dd><dt>Valid</dt><dd>{{valid}}</dd><dt>Data</dt><dd class=mono>{{labels}}</dd></dl>
        <table class=data><caption>Disclosures under {{id}}</caption><thead><tr><th scope=col>Time</th><th scope=col>Recipient</th><th scope=col>Access</th><th scope=col>Log</th><th scope=col>Entries</th><th scope=col>Count</th><th scope=col>Record</th></tr></thead><tbody>
        {{#disclosures}}<tr><td>{{time}}</td><td>{{recipient}}</td><td>{{access}}</td><td>{{log}}</td><td class=mono>{{ranges}}</td><td>{{count}}</td><td>{{record}}</td></tr>{{/disclosures}}
        {{^disclosures}}<tr><td colspan=7>None.</td></tr>{{/disclosures}}
        </tbody></table>
        <table class=data><caption>Purges under {{id}}</caption><thead><tr><th scope=col>Time</th><th scope=col>Purged by</th><th scope=col>Log</th><th scope=col>Entries</th><th scope=col>Count</th><th scope=col>Reason</th><th scope=col>Record</th></tr></thead><tbody>
        {{#purges}}<tr><td>{{time}}</td><td>{{by}}</td><td>{{log}}</td><td class=mono>{{entries}}</td><td>{{count}}</td><td>{{reason}}</td><td>{{record}}</td></tr>{{/purges}}
        {{^purges}}<tr><td colspan=7>None.</td></tr>{{/purges}}
        </tbody></table>
        {{/agreements}}
        {{/body}}{{> bottom}}
        """#

    static let search = #"""
        {{% CONTENT_TYPE: QUARTET_HTML }}{{> top}}{{#body}}
        <h1>Search actions and measures</h1>
        <form method=get action="/search" role=search><label for=q>Action or measure id, or words from its title</label>
        <input id=q name=q type=search value="{{query}}" autocomplete=off><button type=submit>Search</button></form>
        {{#searched}}<h2>{{resultCount}}</h2>
        {{^empty(results)}}<ul>{{#results}}<li><a href="{{href}}">{{label}}</a> — {{detail}}</li>{{/results}}</ul>{{/empty(results)}}{{/searched}}
        {{/body}}{{> bottom}}
        """#
}
