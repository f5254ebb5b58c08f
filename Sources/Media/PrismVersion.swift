/// Prism's own version, reported by `prism version`, capabilities and reports.
public enum PrismVersion {
    public static let string = "0.1.0"
}
