// What pgJDBC's DatabaseMetaData and ResultSetMetaData see through the proxy.
// Usage: java -cp postgresql.jar:. CatalogProbe URL USER PASSWORD DATE_SQL
// DATE_SQL is run as a PreparedStatement with setDate(1, 2020-01-01); its first
// column of each row is printed. One tab-separated line per result; a failed
// call prints ERROR<TAB>call<TAB>SQLSTATE<TAB>message and the probe goes on.
import java.sql.*;
import java.util.*;

public class CatalogProbe {
    interface Step { void run() throws SQLException; }

    static String clean(Object value) {
        return value == null ? "\\N" : value.toString().replace("\t", " ").replace("\n", " ").replace("\r", " ");
    }

    static void out(Object... fields) {
        StringBuilder line = new StringBuilder();
        for (int i = 0; i < fields.length; i++) {
            if (i > 0) line.append('\t');
            line.append(clean(fields[i]));
        }
        System.out.println(line);
    }

    static void step(String name, Step step) {
        try {
            step.run();
        } catch (SQLException e) {
            out("ERROR", name, e.getSQLState(), e.getMessage());
        } catch (RuntimeException e) {
            out("ERROR", name, "java", e.toString());
        }
    }

    public static void main(String[] args) throws Exception {
        String url = args[0], user = args[1], password = args[2], dateSql = args[3];
        Connection conn;
        try {
            conn = DriverManager.getConnection(url, user, password);
        } catch (SQLException e) {
            out("ERROR", "connect", e.getSQLState(), e.getMessage());
            return;
        }
        DatabaseMetaData md = conn.getMetaData();
        out("CONNECT", md.getDatabaseProductName(), md.getDatabaseProductVersion());
        List<String> tables = new ArrayList<>();

        step("getSchemas", () -> {
            try (ResultSet rs = md.getSchemas()) {
                while (rs.next()) out("SCHEMA", rs.getString("TABLE_SCHEM"), rs.getString("TABLE_CATALOG"));
            }
        });
        step("getTables", () -> {
            try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) {
                    out("TABLE", rs.getString("TABLE_SCHEM"), rs.getString("TABLE_NAME"), rs.getString("TABLE_TYPE"));
                    tables.add(rs.getString("TABLE_NAME"));
                }
            }
        });
        for (String table : tables) {
            step("getColumns " + table, () -> {
                try (ResultSet rs = md.getColumns(null, "public", table, "%")) {
                    while (rs.next())
                        out("COLUMN", table, rs.getString("COLUMN_NAME"), rs.getString("TYPE_NAME"),
                            rs.getInt("DATA_TYPE"), rs.getInt("NULLABLE"), rs.getInt("ORDINAL_POSITION"));
                }
            });
            step("getPrimaryKeys " + table, () -> {
                try (ResultSet rs = md.getPrimaryKeys(null, "public", table)) {
                    while (rs.next())
                        out("PK", table, rs.getString("COLUMN_NAME"), rs.getInt("KEY_SEQ"), rs.getString("PK_NAME"));
                }
            });
            step("getIndexInfo " + table, () -> {
                try (ResultSet rs = md.getIndexInfo(null, "public", table, false, true)) {
                    while (rs.next())
                        out("INDEX", table, rs.getString("INDEX_NAME"), rs.getString("COLUMN_NAME"),
                            rs.getBoolean("NON_UNIQUE"), rs.getInt("ORDINAL_POSITION"));
                }
            });
        }
        step("getTypeInfo", () -> {
            int n = 0;
            Set<String> names = new TreeSet<>();
            try (ResultSet rs = md.getTypeInfo()) {
                while (rs.next()) { n++; names.add(rs.getString("TYPE_NAME")); }
            }
            out("TYPEINFO", n, String.join(",", names));
        });
        step("getFunctions public", () -> {
            int n = 0;
            try (ResultSet rs = md.getFunctions(null, "public", "%")) { while (rs.next()) n++; }
            out("FUNCTIONS", "public", n);
        });
        step("getFunctions lower", () -> {
            List<String> found = new ArrayList<>();
            try (ResultSet rs = md.getFunctions(null, "pg_catalog", "lower")) {
                while (rs.next()) found.add(rs.getString("FUNCTION_SCHEM") + "." + rs.getString("FUNCTION_NAME"));
            }
            out("FUNCTIONS", "lower", String.join(",", found));
        });
        step("setDate", () -> {
            try (PreparedStatement ps = conn.prepareStatement(dateSql)) {
                ps.setDate(1, java.sql.Date.valueOf("2020-01-01"));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) out("DATE", rs.getString(1));
                }
            }
        });
        step("ResultSetMetaData", () -> {
            try (Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery("SELECT * FROM cell_towers LIMIT 1")) {
                ResultSetMetaData rsmd = rs.getMetaData();
                for (int i = 1; i <= rsmd.getColumnCount(); i++)
                    out("RSMD", rsmd.getColumnName(i), rsmd.getTableName(i), rsmd.isNullable(i),
                        rsmd.getColumnTypeName(i));
            }
        });
        conn.close();
        out("DONE");
    }
}
