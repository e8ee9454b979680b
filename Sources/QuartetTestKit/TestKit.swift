public enum QuartetTestKit {}
