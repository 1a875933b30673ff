/// Object paths and names of the trajectory layout (as fixed by docs/FORMAT.md and the schema).
public enum Layout {
    public static let formatName = "eostrace-trajectory"
    public static let run = "/run"
    public static let data = "/data"
    public static let trajectory = "/trajectory"
    public static let status = "/run/status"
    /// Attribute of `/run`: JSON summary of the eigensolver's LAPACK cross-checks.
    public static let eigensolverCheck = "eigensolver_check"
    public static let x = "/data/X"
    public static let y = "/data/Y"
    /// Size in bytes of the fixed-length `/run/status` string (null-terminated).
    public static let statusSize = 16
    /// netCDF's NAME prefix for a dimension scale that is not a variable.
    public static let netCDFDimensionPrefix = "This is a netCDF dimension but not a netCDF variable."

    /// Series at the main cadence (first axis `step`), by dataset name under /trajectory.
    public enum Series {
        public static let step = "step"
        public static let loss = "loss"
        public static let residual = "residual"
        public static let outputNormSq = "output_norm_sq"
        public static let sharpness = "sharpness"
        public static let eigenvalues = "eigenvalues"
        public static let eigenvectors = "eigenvectors"
        public static let dtf = "dtf"
        public static let outputs = "outputs"
        public static let outputLayerSharpness = "output_layer_sharpness"
        public static let gradNorm = "grad_norm"
        public static let spectrumStep = "spectrum_step"
        public static let spectrum = "spectrum"
        public static let hessianStep = "hessian_step"
        public static let hessianSharpness = "hessian_sharpness"
        public static let checkpointStep = "checkpoint_step"
        public static let parameters = "parameters"
        public static let gramStep = "gram_step"
        public static let gram = "gram"
        // Format 1.1.
        public static let gramResidual = "gram_residual"
        public static let rPrime = "r_prime"
        public static let rPrimeFromStart = "r_prime_from_start"
        public static let eigensolverIterations = "eigensolver_iterations"
        public static let eigensolverMatvecs = "eigensolver_matvecs"
        public static let stepSeconds = "step_seconds"
        public static let eigenvaluesAboveThreshold = "eigenvalues_above_threshold"
        public static let eigenvalueCountAboveThreshold = "eigenvalue_count_above_threshold"
    }

    /// The NAME attribute netCDF gives a dimension scale without a coordinate variable.
    public static func netCDFDimensionName(size: Int) -> String {
        let s = String(size)
        return netCDFDimensionPrefix + String(repeating: " ", count: max(0, 10 - s.count)) + s
    }

    /// Path of a series under /trajectory (absolute paths pass through).
    public static func path(_ series: String) -> String {
        series.hasPrefix("/") ? series : trajectory + "/" + series
    }
}
