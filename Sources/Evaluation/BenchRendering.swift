import Foundation

/// Number formatting shared by the Markdown and HTML renderings: three decimals, `–` for undefined.
private func figure(_ value: Double?) -> String {
    value.map { String(format: "%.3f", $0) } ?? "–"
}

extension BenchReport {
    /// The tables `guardrail bench` prints: per classifier, per category and overall.
    public func markdown() -> String {
        var out = "# Bench: \(dataset.manifest)\n\n"
        out += "data set sha256 \(dataset.sha256.prefix(16))…, split \(dataset.split ?? "all"), \(dataset.items) items"
        out += dataset.unreadable.isEmpty ? "" : ", \(dataset.unreadable.count) unreadable (left out)"
        out += "; mode \(mode.rawValue); sampling \(sampling)\n"
        for classifier in classifiers {
            let e = classifier.effectiveness
            out += "\n## \(classifier.name)\n\nthresholds: \(classifier.thresholdProvenance)\n"
            if !e.notCovered.isEmpty { out += "not covered (n/a): \(e.notCovered.joined(separator: ", "))\n" }
            if e.missing > 0 { out += "items without an output: \(e.missing)\n" }
            out +=
                "\n| category | n | tp | fp | tn | fn | precision | recall | F1 | F1 real | F1 generated | FPR | AUROC | AUPRC |\n"
            out += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            func row(_ name: String, _ b: SourceBreakdown) -> String {
                let m = b.both
                let counts = m.undecided > 0 ? "– | – | – | –" : "\(m.tp) | \(m.fp) | \(m.tn) | \(m.fn)"
                return
                    "| \(name) | \(m.n) | \(counts) | \(figure(m.precision)) | \(figure(m.recall)) | \(figure(m.f1)) | "
                    + "\(figure(b.real?.f1)) | \(figure(b.generated?.f1)) | \(figure(m.falsePositiveRate)) | "
                    + "\(figure(m.auroc)) | \(figure(m.auprc)) |\n"
            }
            for category in e.covers { if let b = e.categories[category] { out += row(category, b) } }
            out += row("**micro**", e.micro)
            let macro = e.macro["both"]!
            out +=
                "| **macro** (\(macro.categories)) | | | | | | \(figure(macro.precision)) | \(figure(macro.recall)) | "
                + "\(figure(macro.f1)) | \(figure(e.macro["real"]?.f1)) | \(figure(e.macro["generated"]?.f1)) | "
                + "\(figure(macro.falsePositiveRate)) | \(figure(macro.auroc)) | \(figure(macro.auprc)) |\n"
            if !classifier.robustness.isEmpty {
                out +=
                    "\n| perturbation | stage | items | robust accuracy | attack success |\n|---|---|---:|---:|---:|\n"
                for r in classifier.robustness {
                    out +=
                        "| \(r.perturbation) (\(r.unit)) | \(r.stage) | \(r.items) | \(figure(r.robustAccuracy)) | \(figure(r.attackSuccessRate)) |\n"
                }
            }
            if let note = classifier.robustnessNote { out += "\nrobustness: \(note)\n" }
        }
        out += String(
            format: "\n%d items in %.1f s (%.1f items/s, %@); %d outputs computed, %d from the cache\n", runtime.items,
            runtime.seconds, runtime.itemsPerSecond, runtime.cpu, runtime.computed, runtime.reused)
        return out
    }

    /// One self-contained page (inline CSS and SVG, no scripts): per classifier the F1 per category
    /// and source as bars, ROC and precision–recall curves, the confusion counts and robustness.
    public func html() -> String {
        var body = "<h1>guardrail bench</h1>\n<p class=meta>"
        body += "data set <code>\(escape(dataset.manifest))</code>, sha256 <code>\(dataset.sha256)</code><br>"
        body +=
            "split \(dataset.split ?? "all") · \(dataset.items) items · mode \(mode.rawValue) · sampling \(escape(sampling)) · seed \(seed)"
        if !dataset.unreadable.isEmpty { body += "<br>\(dataset.unreadable.count) unreadable items left out" }
        body += "</p>\n" + countsTable()
        for classifier in classifiers {
            let e = classifier.effectiveness
            body += "<section><h2>\(escape(classifier.name))</h2>\n<p class=meta>"
            body += classifier.identity.sorted { $0.key < $1.key }.map {
                "\(escape($0.key)): <code>\(escape($0.value))</code>"
            }
            .joined(separator: "<br>")
            body += "<br>thresholds: \(escape(classifier.thresholdProvenance))"
            if !e.notCovered.isEmpty {
                body += "<br>not covered (n/a): \(escape(e.notCovered.joined(separator: ", ")))"
            }
            body +=
                "</p>\n<div class=charts>" + barChart(e)
                + curveChart(
                    classifier.curves.roc, title: "ROC (pooled)", x: "false positive rate", y: "true positive rate",
                    diagonal: true)
            body +=
                curveChart(
                    classifier.curves.precisionRecall, title: "Precision–recall (pooled)", x: "recall", y: "precision",
                    diagonal: false) + "</div>\n"
            body += confusionTable(e)
            if !classifier.robustness.isEmpty {
                body +=
                    "<table><tr><th>perturbation</th><th>stage</th><th>items</th><th>robust accuracy</th><th>attack success</th></tr>"
                for r in classifier.robustness {
                    body +=
                        "<tr><td>\(escape(r.perturbation)) <small>(\(escape(r.unit)))</small></td><td>\(r.stage)</td><td>\(r.items)</td><td>\(figure(r.robustAccuracy))</td><td>\(figure(r.attackSuccessRate))</td></tr>"
                }
                body += "</table>\n"
            }
            if let note = classifier.robustnessNote { body += "<p class=meta>robustness: \(escape(note))</p>" }
            body += "</section>\n"
        }
        body += String(
            format: "<p class=meta>%d items in %.1f s (%.1f items/s) on %@, %@; engine %@</p>", runtime.items,
            runtime.seconds, runtime.itemsPerSecond, runtime.cpu, runtime.date, engineVersion)
        return """
            <!doctype html>
            <html lang=en><head><meta charset=utf-8><title>guardrail bench</title>
            <style>
            body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
            h1{font-size:22px}h2{font-size:18px;margin-top:1.8em;border-bottom:1px solid #ddd}
            .meta{color:#555;font-size:12px;word-break:break-all}code{font-size:11px}
            table{border-collapse:collapse;margin:.8em 0;font-size:12px}td,th{border:1px solid #ddd;padding:3px 7px;text-align:right}
            td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}
            .charts{display:flex;flex-wrap:wrap;gap:12px}svg{background:#fff;border:1px solid #eee}
            .legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
            </style></head><body>
            \(body)
            </body></html>

            """
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    private func countsTable() -> String {
        var out =
            "<table><tr><th>category</th><th>real safe</th><th>real unsafe</th><th>generated safe</th><th>generated unsafe</th><th>unknown source</th></tr>"
        for (category, sources) in dataset.counts.sorted(by: { $0.key < $1.key }) {
            let unknown = (sources["unknown"]?["safe"] ?? 0) + (sources["unknown"]?["unsafe"] ?? 0)
            out +=
                "<tr><td>\(escape(category))</td><td>\(sources["real"]?["safe"] ?? 0)</td><td>\(sources["real"]?["unsafe"] ?? 0)</td>"
                + "<td>\(sources["generated"]?["safe"] ?? 0)</td><td>\(sources["generated"]?["unsafe"] ?? 0)</td><td>\(unknown)</td></tr>"
        }
        return out + "</table>\n"
    }

    private static let colours = ["real": "#4e79a7", "generated": "#f28e2b", "both": "#59a14f"]

    /// F1 per category for real, generated and both, as grouped bars (a missing bar: undefined).
    private func barChart(_ e: EffectivenessReport) -> String {
        let groups = e.covers.filter { e.categories[$0] != nil } + ["micro"]
        let (w, h, left, bottom) = (max(360, 70 * groups.count + 60), 260, 40, 70)
        let slot = Double(w - left - 10) / Double(max(groups.count, 1))
        var svg = "<svg width=\(w) height=\(h) viewBox='0 0 \(w) \(h)' xmlns='http://www.w3.org/2000/svg'>"
        svg += "<text x=\(left) y=14 font-size=12 font-weight=bold>F1 of the unsafe class</text>"
        let plot = Double(h - bottom - 24)
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            let y = Double(h - bottom) - tick * plot
            svg +=
                "<line x1=\(left) x2=\(w - 10) y1=\(y) y2=\(y) stroke='#eee'/><text x=\(left - 4) y=\(y + 4) font-size=10 text-anchor=end>\(tick)</text>"
        }
        for (g, group) in groups.enumerated() {
            let breakdown = group == "micro" ? e.micro : e.categories[group]!
            let values: [(String, Double?)] = [
                ("real", breakdown.real?.f1), ("generated", breakdown.generated?.f1), ("both", breakdown.both.f1),
            ]
            let x0 = Double(left) + Double(g) * slot + slot * 0.15
            let bar = slot * 0.7 / 3
            for (i, (source, value)) in values.enumerated() {
                guard let value else { continue }
                // A zero is drawn as a hairline, so that it differs from an undefined (absent) bar.
                let height = max(value * plot, 1)
                svg +=
                    "<rect x=\(x0 + Double(i) * bar) y=\(Double(h - bottom) - height) width=\(bar - 1) height=\(height) fill='\(Self.colours[source]!)'><title>\(escape(group)) \(source): \(figure(value))</title></rect>"
            }
            svg +=
                "<text transform='translate(\(x0 + slot * 0.35),\(h - bottom + 10)) rotate(35)' font-size=10>\(escape(group))</text>"
        }
        svg += "<g font-size=10 transform='translate(\(left),\(h - 8))'>"
        for (i, source) in ["real", "generated", "both"].enumerated() {
            svg +=
                "<rect x=\(i * 90) y=-9 width=10 height=10 fill='\(Self.colours[source]!)'/><text x=\(i * 90 + 14) y=0>\(source)</text>"
        }
        return svg + "</g></svg>"
    }

    private func curveChart(_ points: [[Double]], title: String, x: String, y: String, diagonal: Bool) -> String {
        let (size, pad) = (260.0, 36.0)
        let plot = size - 2 * pad
        func px(_ v: Double) -> Double { pad + v * plot }
        func py(_ v: Double) -> Double { size - pad - v * plot }
        var svg =
            "<svg width=\(Int(size)) height=\(Int(size)) viewBox='0 0 \(Int(size)) \(Int(size))' xmlns='http://www.w3.org/2000/svg'>"
        svg += "<text x=\(pad) y=16 font-size=12 font-weight=bold>\(title)</text>"
        svg += "<rect x=\(pad) y=\(pad) width=\(plot) height=\(plot) fill=none stroke='#999'/>"
        if diagonal {
            svg += "<line x1=\(px(0)) y1=\(py(0)) x2=\(px(1)) y2=\(py(1)) stroke='#ccc' stroke-dasharray='4 3'/>"
        }
        for tick in [0.0, 0.5, 1.0] {
            svg += "<text x=\(px(tick)) y=\(size - pad + 14) font-size=10 text-anchor=middle>\(tick)</text>"
            svg += "<text x=\(pad - 4) y=\(py(tick) + 4) font-size=10 text-anchor=end>\(tick)</text>"
        }
        svg += "<text x=\(size / 2) y=\(size - 6) font-size=10 text-anchor=middle>\(x)</text>"
        svg += "<text transform='translate(10,\(size / 2)) rotate(-90)' font-size=10 text-anchor=middle>\(y)</text>"
        if points.isEmpty {
            svg +=
                "<text x=\(size / 2) y=\(size / 2) font-size=11 text-anchor=middle fill='#999'>undefined (one class or no scores)</text>"
        } else {
            let path = points.map { String(format: "%.2f,%.2f", px($0[0]), py($0[1])) }.joined(separator: " ")
            svg += "<polyline points='\(path)' fill=none stroke='#4e79a7' stroke-width=2/>"
        }
        return svg + "</svg>"
    }

    private func confusionTable(_ e: EffectivenessReport) -> String {
        var out =
            "<table><tr><th>category</th><th>n</th><th>tp</th><th>fp</th><th>tn</th><th>fn</th><th>precision</th><th>recall</th><th>F1</th><th>accuracy</th><th>FPR</th><th>AUROC</th><th>AUPRC</th><th>F1 real − generated</th></tr>"
        func row(_ name: String, _ b: SourceBreakdown) -> String {
            let m = b.both
            let counts =
                m.undecided > 0
                ? "<td>–</td><td>–</td><td>–</td><td>–</td>"
                : "<td>\(m.tp)</td><td>\(m.fp)</td><td>\(m.tn)</td><td>\(m.fn)</td>"
            return
                "<tr><td>\(escape(name))</td><td>\(m.n)</td>\(counts)<td>\(figure(m.precision))</td><td>\(figure(m.recall))</td><td>\(figure(m.f1))</td><td>\(figure(m.accuracy))</td><td>\(figure(m.falsePositiveRate))</td><td>\(figure(m.auroc))</td><td>\(figure(m.auprc))</td><td>\(figure(b.realMinusGeneratedF1))</td></tr>"
        }
        for category in e.covers { if let b = e.categories[category] { out += row(category, b) } }
        out += row("micro (pooled)", e.micro)
        let m = e.macro["both"]!
        out +=
            "<tr><td>macro (mean of \(m.categories))</td><td></td><td></td><td></td><td></td><td></td><td>\(figure(m.precision))</td><td>\(figure(m.recall))</td><td>\(figure(m.f1))</td><td>\(figure(m.accuracy))</td><td>\(figure(m.falsePositiveRate))</td><td>\(figure(m.auroc))</td><td>\(figure(m.auprc))</td><td></td></tr>"
        return out + "</table>\n"
    }
}
