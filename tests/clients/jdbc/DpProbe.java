// A dp login through pgJDBC with default settings: a PreparedStatement with setDate
// executed six times (pgJDBC moves to a named server-side statement from the fifth,
// prepareThreshold=5), the notice each release carries (a SQLWarning), a grouped
// statement, a refused row-level statement, and the session after it.
// Usage: java DpProbe URL USER PASSWORD GROUPED_SQL
// Prints tab-separated lines: COUNT i n, NOTICE i text, GROUP key n avg, REFUSED sqlstate,
// AFTER 1, DONE.
import java.sql.*;
import java.time.LocalDate;

public class DpProbe {
    static void out(Object... fields) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < fields.length; i++) {
            if (i > 0) b.append('\t');
            b.append(fields[i]);
        }
        System.out.println(b);
    }

    public static void main(String[] args) throws Exception {
        try (Connection conn = DriverManager.getConnection(args[0], args[1], args[2])) {
            try (PreparedStatement ps = conn.prepareStatement(
                    "SELECT count(*) AS n FROM customers WHERE signup_date >= ?")) {
                for (int i = 0; i < 6; i++) {
                    ps.setDate(1, Date.valueOf(LocalDate.of(2020, 1, 1).plusDays(i)));
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        out("COUNT", i, rs.getLong(1));
                    }
                    SQLWarning w = ps.getWarnings();
                    out("NOTICE", i, w == null ? "" : w.getMessage());
                    ps.clearWarnings();
                }
            }
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(args[3])) {
                while (rs.next()) out("GROUP", rs.getString(1), rs.getLong(2), rs.getDouble(3));
            }
            try (Statement st = conn.createStatement()) {
                st.executeQuery("SELECT full_name FROM customers");
                out("REFUSED", "none");
            } catch (SQLException e) {
                out("REFUSED", e.getSQLState());
            }
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT 1")) {
                rs.next();
                out("AFTER", rs.getInt(1));
            }
        }
        out("DONE");
    }
}
