import Foundation
import QuartetStore

/// Files that say a data directory is not (yet) a whole copy that knows its own log's end
/// (docs/operations.md, "Backups" and "Rotating a log's key"):
///
/// - `RECOVERING` (`Recovery.markerName`): a `quartet recover` that did not finish;
/// - `.backup-in-progress`: a `quartet backup` that did not finish (files may be missing);
/// - `UNCONFIRMED-COPY`: a copy `quartet backup` made. The node's own log may have grown
///   after it: written to offline (`quartet append`, `quartet key rotate`) before the node has
///   learnt from its peers how much of its log they hold, it would sign a second history — an
///   equivocation, or with a rotation a fork no peer even reports. `serve` removes the marker
///   once its own log is synced with its peers (and refuses `--i-am-the-only-copy` while it
///   is there: `onlyCopyRefusal`).
///
/// A copy of the disk taken any other way has no marker: start it with `serve` before writing
/// to it offline.
public enum CopyMarkers {
    public static let backupInProgress = ".backup-in-progress"
    public static let unconfirmed = "UNCONFIRMED-COPY"

    /// Whether anything is there by that name: a symlink counts, even one that leads nowhere
    /// (`lstat`, not following it), so a marker cannot be hidden behind one.
    static func exists(_ name: String, in dataDirectory: String) -> Bool {
        var info = stat()
        return lstat(URL(fileURLWithPath: dataDirectory).appendingPathComponent(name).path, &info) == 0
    }

    /// Why `serve` must not start on `dataDirectory` because of a marker (nil: no such reason).
    public static func startRefusal(_ dataDirectory: String) -> String? {
        guard exists(backupInProgress, in: dataDirectory) else { return nil }
        return "\(dataDirectory) is a `quartet backup` that did not finish (it holds \(backupInProgress)): files of the copy may be missing; restore a backup that finished (it has backup.json), or take the backup again"
    }

    /// Why `serve --i-am-the-only-copy` must not start on `dataDirectory` (nil: it may). A copy
    /// `quartet backup` made is never the only copy: the log went on at the node it was taken
    /// from, and peers hold what it signed after. Started without first learning that tail, it
    /// would append at sizes its peers already hold (an equivocation every peer quarantines).
    /// Removing the marker by hand stays a deliberate act for the operator who knows better.
    public static func onlyCopyRefusal(_ dataDirectory: String) -> String? {
        guard exists(unconfirmed, in: dataDirectory) else { return nil }
        return "\(dataDirectory) is a copy `quartet backup` made (it holds \(unconfirmed)): it is not the only copy of its log, so --i-am-the-only-copy is refused. "
            + "Start it without the flag once a peer is up (it takes the tail its peers hold, then removes the marker); only if no other node ever held this log, remove \(unconfirmed) by hand"
    }

    /// Why an offline command may not write to the own log in `dataDirectory` (nil: it may).
    public static func offlineWriteRefusal(_ dataDirectory: String) -> String? {
        if let refusal = startRefusal(dataDirectory) { return refusal }
        if Recovery.isUnfinished(dataDirectory) {
            return "\(dataDirectory) is a recovery that did not finish (quartet recover was interrupted); run `quartet recover` again"
        }
        if exists(unconfirmed, in: dataDirectory) {
            return "\(dataDirectory) is a copy `quartet backup` made (it holds \(unconfirmed)), and its own log may have grown since: written to before the node has learnt from its peers how much of its log they hold, it would sign a second history. "
                + "Start the node once (`quartet serve`; it takes the tail its peers hold and then removes the marker), stop it, and run this again"
        }
        return nil
    }

    /// The node's own log is synced with its peers: the copy is confirmed (the marker goes).
    /// Returns why the marker could not be removed (nil: removed, or there was none).
    @discardableResult
    public static func confirm(_ dataDirectory: String) -> String? {
        let path = URL(fileURLWithPath: dataDirectory).appendingPathComponent(unconfirmed).path
        guard unlink(path) == 0 else {
            return errno == ENOENT ? nil : "cannot remove \(path): \(String(cString: strerror(errno))); offline writes to this directory stay refused until it is removed"
        }
        DataDirectory.syncDirectory(dataDirectory)
        return nil
    }
}
