import Mustache

// The dashboard's values by name for its template. swift-mustache otherwise finds each
// `{{name}}` by reflection (`Mirror`), which builds every child of the value for each lookup and
// was a quarter of the overview's render time. The names are the stored properties' names;
// `DashboardTests` renders every section, so a name missing here shows as a missing value there.

extension DashboardPage: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "title": title
        case "node": node
        case "role": role
        case "generatedAt": generatedAt
        case "viewer": viewer
        case "badges": badges
        case "columns": columns
        case "rows": rows
        case "columnCount": columnCount
        case "legend": legend
        case "targetedCharts": targetedCharts
        case "sharedCharts": sharedCharts
        case "localCharts": localCharts
        case "localCount": localCount
        case "agreements": agreements
        case "ignoredAgreements": ignoredAgreements
        case "aggregates": aggregates
        case "alerts": alerts
        default: nil
        }
    }
}

extension DashboardPage.Badge: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "name": self.name
        case "href": href
        case "colour": colour
        case "counts": counts
        case "verified": verified
        case "freshness": freshness
        case "checkpointAge": checkpointAge
        case "alertCount": alertCount
        case "checkpoint": checkpoint
        case "witnessed": witnessed
        case "witnessQuorum": witnessQuorum
        default: nil
        }
    }
}

extension DashboardPage.Row: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": id
        case "href": href
        case "title": title
        case "cells": cells
        default: nil
        }
    }
}

extension DashboardPage.Cell: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "href": href
        case "colour": colour
        case "fill": fill
        case "empty": empty
        case "percent": percent
        case "detail": detail
        case "stale": stale
        default: nil
        }
    }
}

extension DashboardPage.Legend: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "name": self.name
        case "colour": colour
        default: nil
        }
    }
}

extension DashboardPage.Chart: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "title": title
        case "href": href
        case "svg": svg
        case "total": total
        case "note": note
        case "textOnly": textOnly
        default: nil
        }
    }
}

extension DashboardPage.Total: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "label": label
        case "year": year
        case "value": value
        case "target": target
        case "detail": detail
        case "figure": figure
        case "figureHref": figureHref
        case "period": period
        default: nil
        }
    }
}

extension DashboardPage.Agreement: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": id
        case "owner": owner
        case "ownerHref": ownerHref
        case "holder": holder
        case "labels": labels
        case "recipients": recipients
        case "validFrom": validFrom
        case "validUntil": validUntil
        case "status": status
        case "pill": pill
        default: nil
        }
    }
}

extension DashboardPage.Count: MustacheParent {
    func child(named name: String) -> Any? { name == "value" ? value : nil }
}

extension DashboardPage.AggregateRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "label": label
        case "cells": cells
        case "total": total
        default: nil
        }
    }
}

extension DashboardPage.Aggregate: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "caption": caption
        case "columns": columns
        case "rows": rows
        case "hidden": hidden
        case "minimum": minimum
        case "rounding": rounding
        case "figure": figure
        default: nil
        }
    }
}

extension DashboardPage.Alert: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "time": time
        case "kind": kind
        case "message": message
        default: nil
        }
    }
}
