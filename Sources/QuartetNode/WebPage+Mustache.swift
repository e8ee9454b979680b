import Mustache

// The web pages' values by name for their templates, for the pages read most (the frame, a
// measure, a figure), as DashboardPage+Mustache.swift does for the overview: no reflection per
// `{{name}}`. Pages read less often are still found by reflection. `WebPageNamesTests` checks
// that every stored property is answered.

extension WebPage.Frame.Page: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "title": title
        case "node": node
        case "viewer": viewer
        case "breadcrumbs": breadcrumbs
        case "script": script
        case "body": body
        default: nil
        }
    }
}

extension WebPage.Crumb: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "name": self.name
        case "href": href
        default: nil
        }
    }
}

extension WebPage.MeasureBody: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "heading": heading
        case "definitions": definitions
        case "chartTitle": chartTitle
        case "svg": svg
        case "year": year
        case "years": years
        case "totals": totals
        case "readings": readings
        case "csvHref": csvHref
        default: nil
        }
    }
}

extension WebPage.MeasureBody.Definition: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "nation": nation
        case "text": text
        case "unit": unit
        case "target": target
        case "overTime": overTime
        default: nil
        }
    }
}

extension WebPage.MeasureBody.Total: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "period": period
        case "value": value
        case "target": target
        case "parts": parts
        case "entries": entries
        case "href": href
        default: nil
        }
    }
}

extension WebPage.MeasureBody.Reading: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "period": period
        case "nation": nation
        case "measure": measure
        case "value": value
        case "note": note
        case "corrections": corrections
        case "href": href
        default: nil
        }
    }
}

extension WebPage.MeasureBody.Year: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "year": year
        case "href": href
        case "current": current
        default: nil
        }
    }
}

extension WebPage.FigureBody: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "figure": figure
        case "count": count
        case "stated": stated
        case "omitted": omitted
        case "checkpoints": checkpoints
        case "entries": entries
        case "data": data
        default: nil
        }
    }
}

extension WebPage.FigureBody.Checkpoint: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "position": position
        case "log": log
        case "size": size
        case "root": root
        case "vkey": vkey
        case "rotated": rotated
        case "pinned": pinned
        case "witnessed": witnessed
        case "quorum": quorum
        default: nil
        }
    }
}

extension WebPage.FigureBody.Entry: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "position": position
        case "log": log
        case "index": index
        case "type": type
        case "time": time
        case "author": author
        case "content": content
        default: nil
        }
    }
}
